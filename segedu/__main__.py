"""The command line: ``python -m segedu train | evaluate | data | info | bench | claims``. Run with ``--help`` for every option.

What it prints, its help (the lab's subcommands' too), argparse's own words and the library's errors are in the
learner's language (``SEGEDU_LANG=ko``: `segedu.language.tr`); the tables and reports of the lab's subcommands
(bench, claims) are written in English, like docs/."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from .arguments import (device, image_size, in_learners_language, non_negative_int, parse_options, positive_float,
                        positive_int)
from .language import tr

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from .models import MODELS

    parser = argparse.ArgumentParser(prog="python -m segedu", description=tr("segedu: semantic segmentation course tools"))
    parser.add_argument("--debug", action="store_true", help=tr("show the full traceback of an error"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,data,info,bench,claims}")

    train = commands.add_parser("train", help=tr("train a model and write checkpoints"),
                                description=tr("Train a model; sizes default to the run profile (fast on CPU, full on GPU)."))
    from .recipes import RECIPES

    train.add_argument("--recipe", choices=sorted(RECIPES),
                       help=tr("a whole training's settings, each explained in segedu/recipes.py (camvid-cpu: the "
                               "course's CamVid flagship, within an hour on a 2-core CPU; isbi-cpu: U-Net on ISBI "
                               "2012, 20 minutes; camvid-heads --model NAME: any architecture's head on the frozen "
                               "encoder); options given beside it still win"))
    train.add_argument("--model", choices=sorted(MODELS), help=tr("architecture to build (required without --recipe)"))
    train.add_argument("--data", help=tr("shapes, camvid, isbi2012, their synthetic stand-ins "
                                                  "streets and membranes, or the path of a folder with classes.txt, "
                                                  "images/ and masks/ (required without --recipe)"))
    train.add_argument("--epochs", type=positive_int, help=tr("number of epochs (default: the profile's)"))
    start = train.add_mutually_exclusive_group()
    start.add_argument("--resume", type=Path, metavar="CKPT",
                       help=tr("continue the stopped run that wrote CKPT, exactly; every setting must be the same"))
    start.add_argument("--init-from", metavar="CKPT",
                       help=tr("a new run (new schedule, --epochs from 1) from the model weights of CKPT: a run's "
                               "last.pt, an exported checkpoint, or a shipped model (unet_camvid, unet_lite0_isbi2012, "
                               "deeplabv3plus_camvid); the same model and classes"))
    train.add_argument("--output", type=Path, help=tr("folder for checkpoints (default: runs/MODEL-DATA)"))
    train.add_argument("--batch-size", type=positive_int, help=tr("global batch size (default: the profile's)"))
    train.add_argument("--lr", type=positive_float, help=tr("peak learning rate (default: 0.001)"))
    train.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw", help=tr("optimizer (default: %(default)s)"))
    train.add_argument("--image-size", type=image_size, metavar="HxW", help=tr("training crop size (default: the profile's)"))
    train.add_argument("--width", type=positive_float, help=tr("channel multiplier of the model (default: the "
                                                                         "profile's; 1 with --pretrained)"))
    train.add_argument("--backbone", help=tr("encoder of models that take one: vgg16, vgg16_bn, resnet10, "
                                             "resnet18, resnet26, resnet50, resnet101, mobilenet_v3_large, "
                                             "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"))
    train.add_argument("--pretrained", action="store_true",
                       help=tr("start the encoder from ImageNet weights (efficientnet_lite0, 1 and 2 work offline)"))
    train.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help=tr("another keyword of the model's builder, e.g. --option batch_norm=False --option "
                               "padding=False (repeatable; values read as Python literals)"))
    train.add_argument("--subset", type=non_negative_int, metavar="N",
                       help=tr("train on N evenly spaced samples, 0 for all (default: the profile's)"))
    train.add_argument("--profile", choices=("fast", "full"), help=tr("run profile (default: $SEGEDU_PROFILE, else by device)"))
    train.add_argument("--device", type=device, default="auto", help=tr("auto, cpu, cuda, cuda:N or mps (default: %(default)s)"))
    train.add_argument("--num-workers", type=non_negative_int, help=tr("DataLoader workers (default: 0 on CPU, up to 8 on CUDA)"))
    train.add_argument("--seed", type=int, default=0, help=tr("random seed (default: %(default)s)"))
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help=tr("auto: bf16 autocast where the device computes bf16 natively (CUDA; CPUs with AVX-512 "
                               "BF16 or AMX), fp32 elsewhere; fp32 or bf16 to compare (default: auto)"))
    train.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                       help=tr("channels_last memory format (default: the runtime's choice for the device)"))
    train.add_argument("--no-progress", action="store_true", help=tr("no progress bars"))

    evaluate = commands.add_parser("evaluate", help=tr("score a checkpoint and draw its predictions"),
                                   description=tr("Print per-class IoU, mIoU and pixel accuracy; write a figure "
                                                  "of predictions and a metrics JSON beside the checkpoint."))
    evaluate.add_argument("--checkpoint", required=True, type=Path, help=tr("checkpoint written by train"))
    evaluate.add_argument("--data", help=tr("shapes, camvid, isbi2012, their synthetic stand-ins streets and "
                                               "membranes, or the path of a folder with classes.txt, images/ and "
                                               "masks/ (default: the data the checkpoint was trained on)"))
    evaluate.add_argument("--split", default="test", help=tr("split to score (default: %(default)s)"))
    evaluate.add_argument("--subset", type=positive_int, metavar="N", help=tr("score N evenly spaced samples (default: all)"))
    evaluate.add_argument("--batch-size", type=positive_int, default=4, help=tr("batch size (default: %(default)s)"))
    evaluate.add_argument("--device", type=device, default="auto", help=tr("auto, cpu, cuda, cuda:N or mps (default: %(default)s)"))
    evaluate.add_argument("--samples", type=non_negative_int, default=3, help=tr("samples drawn in the figure, 0 for no figure (default: %(default)s)"))

    data = commands.add_parser("data", help=tr("download or verify the course's data sets"))
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="{download,verify,fetch-missing}")
    missing = data_commands.add_parser(
        "fetch-missing", help=tr("download CamVid and ISBI 2012 where they are missing (make lab and make test run this)"),
        description=tr("Download each course data set that is missing, stating its size first. Never fails: "
                       "offline, or with SEGEDU_NO_DOWNLOAD=1, it says in one line per data set that the notebooks use "
                       "a synthetic stand-in and how to fetch the data later."))
    missing.add_argument("--root", type=Path, help=tr("folder that holds the data sets (default: $SEGEDU_DATA or datasets/)"))
    for name, text in (("download", tr("fetch a data set from its public source and verify every file")),
                       ("verify", tr("check every file of a local copy against segedu's SHA-256 manifest"))):
        sub = data_commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", choices=("camvid", "isbi2012"), help=tr("data set"))
        sub.add_argument("--root", type=Path, help=tr("folder that holds the data sets (default: $SEGEDU_DATA or datasets/)"))
        if name == "download":
            sub.add_argument("--url", help=tr("download from this mirror instead of the upstream archive"))
            sub.add_argument("--force", action="store_true", help=tr("replace an existing copy that does not verify"))

    commands.add_parser("info", help=tr("print the profile, device, data root and the data sets found"))

    from .lab import bench, claims

    for name, module in (("bench", bench), ("claims", claims)):  # the lab's subcommands declare their own options
        module.add_arguments(commands.add_parser(name, help=tr(module.HELP), description=tr(module.DESCRIPTION)))
    return parser


def _train(args: argparse.Namespace) -> int:
    from .data import build_dataset
    from .engine import TrainConfig, fit, seed_everything
    from .models import build_model, check_model_options
    from .profiles import profile
    from .recipes import RECIPES, recipe_training

    recipe = RECIPES[args.recipe] if args.recipe else None
    budget = recipe.minutes if recipe is not None and args.epochs is None else None  # --epochs given: exactly those
    if recipe is not None:
        for key, value in recipe.arguments().items():  # what the command line left unset
            if getattr(args, key) in (None, False):
                setattr(args, key, value)
    if args.model is None or args.data is None:
        from .errors import InputError
        raise InputError(tr("train needs --model and --data, or a --recipe ({recipes})", recipes=", ".join(RECIPES)))
    args.lr = args.lr or 1e-3
    chosen = profile(args.profile)
    if args.image_size:
        size = args.image_size
    else:
        size = {"isbi2012": (chosen.isbi_size,) * 2, "membranes": (chosen.isbi_size,) * 2,
                "shapes": (chosen.shapes_size,) * 2}.get(args.data, chosen.camvid_size)
    subset = chosen.train_subset if args.subset is None else (args.subset or None)
    width = args.width if args.width is not None else (1.0 if args.pretrained else chosen.width)
    options = {"width": width, **({"backbone": args.backbone} if args.backbone else {}),
               **({"pretrained": True} if args.pretrained else {}), **(recipe.model_options() if recipe else {}),
               **parse_options(args.option)}
    check_model_options(args.model, options)  # every option the model gets (--option width=-1), before data is read
    train_data = (recipe.training_data(args.data, size, subset) if recipe is not None
                  else build_dataset(args.data, "train", image_size=size, augment=True, subset=subset))
    val_data = None if recipe is not None else build_dataset(
        args.data, "val", image_size=size, subset=chosen.eval_subset if args.subset is None else subset)
    for dataset in (train_data, val_data):
        if dataset is not None and hasattr(dataset, "keep_decoded"):
            dataset.keep_decoded()  # every epoch reads the same files: decode them once
    seed_everything(args.seed)  # the same initial weights on every run (and in every torchrun process)
    model = build_model(args.model, num_classes=train_data.num_classes, in_channels=train_data.in_channels, **options)
    output = args.output or Path("runs") / f"{args.model}-{Path(args.data).name}"
    config = TrainConfig(epochs=args.epochs or chosen.epochs, batch_size=args.batch_size or chosen.batch_size, lr=args.lr,
                         optimizer=args.optimizer, device=args.device, num_workers=args.num_workers, seed=args.seed,
                         checkpoint_dir=str(output), progress=not args.no_progress,
                         bf16=None if args.precision == "auto" else args.precision == "bf16",
                         channels_last=args.channels_last, minutes=budget)
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun, only rank 0 speaks
    data_info = {"name": args.data, "image_size": list(size), "subset": subset,
                 "class_names": list(train_data.class_names), "palette": [list(c) for c in train_data.palette]}
    callbacks, scored, loss = [], None, None
    if recipe is not None:  # class weights, frozen levels, the loss, and the split scored at 15, 30 and 60 minutes
        config, callbacks, scored, loss = recipe_training(recipe, model, config, data=args.data, size=size, subset=subset, output=output,
                                                    resume=args.resume, say=print if main_process else None)
        data_info["recipe"] = recipe.name
    if main_process:
        validation = (tr("{count} validation samples", count=len(val_data)) if val_data is not None
                      else tr("no validation split"))
        print(tr("profile {profile}: {model} (width {width}, {parameters:.2f}M parameters) on {data} at {size}, "
                 "{count} training samples, {validation}", profile=chosen.name, model=args.model, width=width,
                 parameters=model.num_parameters() / 1e6, data=args.data, size=f"{size[0]}x{size[1]}",
                 count=len(train_data), validation=validation), flush=True)
        print(tr("runtime {runtime}", runtime=config.runtime().describe()), flush=True)
    history = fit(model, train_data, val_data, config, loss=loss, resume=args.resume, init_from=args.init_from,
                  data_info=data_info, callbacks=callbacks)
    if scored is not None and not history.interrupted and main_process:
        scored.finish(history.checkpoint)
    if history.interrupted:  # fit said in one line why it stopped and what --resume continues
        return _stopped_status(history)
    if history.checkpoint is not None and main_process:
        print(tr("checkpoint: {checkpoint}\nevaluate:   python -m segedu evaluate --checkpoint {checkpoint}",
                 checkpoint=history.checkpoint))
    return 0


def _stopped_status(history) -> int:
    """The exit status of a stopped `train` (docs/command-line.md): 0 when its state is saved for --resume and the stop
    was asked for by SIGTERM or came under torchrun (which reports any other status as a failure, with a traceback
    per process); 130 for Ctrl-C of a single process (the shell's convention: `train && evaluate` goes no further);
    128 + the signal's number when nothing was saved."""
    import signal

    number = signal.SIGTERM if history.stopped_by == "SIGTERM" else signal.SIGINT
    if history.checkpoint is None:
        return 128 + number
    under_torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return 0 if under_torchrun or number == signal.SIGTERM else 130


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_model
    from .data import build_dataset
    from .engine import evaluate, predict
    from .runtime import Runtime
    from .viz import show_predictions

    model, state = load_model(args.checkpoint)
    _check_writable(args.checkpoint.parent)  # before scoring, which may take minutes
    info = state.get("data") or {}
    name = args.data or info.get("name")
    if not name:
        raise ValueError(tr("checkpoint {checkpoint} does not record its data set; pass --data",
                            checkpoint=args.checkpoint))
    trained_size = tuple(info["image_size"]) if info.get("image_size") else None
    native = None if name != "shapes" else trained_size  # real data is scored at the labels' own resolution
    data = build_dataset(name, args.split, image_size=native, subset=args.subset)
    if data.num_classes != model.num_classes:
        raise ValueError(tr("data set {name!r} has {count} classes but checkpoint {checkpoint} predicts {predicted}",
                            name=name, count=data.num_classes, checkpoint=args.checkpoint,
                            predicted=model.num_classes))
    runtime = Runtime.resolve(args.device)  # the model, its inputs and the figure's predictions: one device
    matrix = evaluate(model, data, batch_size=args.batch_size, runtime=runtime, input_size=trained_size, progress=True)
    print(tr("{model} on {data} {split} ({count} samples, model input {size}; {runtime}):",
             model=model.build_spec["name"], data=name, split=args.split, count=len(data),
             size=tr("native") if trained_size is None else "x".join(map(str, trained_size)),
             runtime=runtime.describe()))
    print(matrix.table(data.class_names))
    stem = f"{Path(str(name)).name}-{args.split}"
    metrics_path = args.checkpoint.with_name(f"metrics-{stem}.json")
    metrics_path.write_text(json.dumps({**matrix.summary(), "iou": matrix.iou().tolist(),
                                        "class_names": list(data.class_names), "samples": len(data)}, indent=2))
    if args.samples == 0:  # --samples 0: the scores only, no figure
        print(tr("metrics: {path}", path=metrics_path))
        return 0
    picks = torch.linspace(0, len(data) - 1, min(args.samples, len(data))).round().long().tolist()
    images, masks = zip(*(data[i] for i in picks))  # one at a time: the images of a folder may differ in size
    predictions = [predict(model, image[None], input_size=trained_size, output_size=mask.shape[-2:],
                           runtime=runtime)[0].argmax(0).cpu() for image, mask in zip(images, masks)]
    figure_path = args.checkpoint.with_name(f"predictions-{stem}.png")
    show_predictions(images, masks, predictions, class_names=data.class_names, palette=data.palette,
                     title=tr("{model} on {data} {split}: mIoU {miou:.1f}%", model=model.build_spec["name"],
                              data=name, split=args.split, miou=100 * matrix.miou()),
                     path=figure_path)
    print(tr("figure:  {figure}\nmetrics: {metrics}", figure=figure_path, metrics=metrics_path))
    return 0


def _check_writable(folder: Path) -> None:
    """`evaluate` writes its metrics and figure beside the checkpoint: refuse a folder it cannot write to at once."""
    from .errors import SegeduError

    probe = folder / f".segedu-write-test.{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise SegeduError(tr("evaluate writes its metrics and figure beside the checkpoint, and the folder {folder} "
                             "is not writable ({reason}); copy the checkpoint into a writable folder and evaluate it "
                             "there", folder=folder, reason=error.strerror or error)) from error


def _data(args: argparse.Namespace) -> int:
    from .data import SOURCES, data_root, download, fetch_missing, verify

    root = args.root or data_root()
    if args.data_command == "fetch-missing":
        fetch_missing(root=root)
        return 0
    if args.data_command == "download":
        source = SOURCES[args.name]
        print(tr("{name}: {url}\nterms: {licence}", name=args.name, url=args.url or source.url,
                 licence=source.licence))
        target = download(args.name, root, url=args.url, force=args.force)
        print(tr("{name} is ready in {folder}", name=args.name, folder=target))
    else:
        verify(root / args.name, SOURCES[args.name].manifest)
        print(tr("{folder}: every file matches {manifest}", folder=root / args.name,
                 manifest=SOURCES[args.name].manifest.name))
    return 0


def _info(args: argparse.Namespace) -> int:
    import torch

    from .data import STANDINS, data_root, missing_reason
    from .profiles import profile
    from .runtime import Runtime

    root = data_root()
    print(tr("segedu profile: {profile}\nruntime: {runtime}  (torch {torch})\ndata root: {root}",
             profile=profile().name, runtime=Runtime.resolve().describe(), torch=torch.__version__, root=root))
    for name, standin in STANDINS.items():
        reason = missing_reason(name, root)
        print(tr("  {name}: found", name=name) if reason is None else
              tr("  {name}: missing: {reason}; notebooks use the stand-in {standin!r} (python -m segedu data download "
                 "{name})", name=name, reason=reason, standin=standin))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .lab import bench

    return bench.main(args)


def _claims(args) -> int:
    from .lab import claims

    return claims.main(args)


def main(argv: list[str] | None = None) -> int:
    from .errors import SegeduError

    with in_learners_language():
        args = build_parser().parse_args(argv)
    try:
        return {"train": _train, "evaluate": _evaluate, "data": _data, "info": _info, "bench": _bench,
                "claims": _claims}[args.command](args)
    except (SegeduError, ValueError, FileNotFoundError) as error:
        if args.debug:
            raise
        print(tr("error: {error}", error=error), file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001: anything else is one line too; --debug shows where it came from
        if args.debug:
            raise
        print(tr("error: {kind}: {error} (run with --debug for the traceback)", kind=type(error).__name__,
                 error=error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
