"""Issue #32, round two, the models' side: bad model options, image sizes, bench options, too-small training inputs,
confusion matrices and CRF inputs each stop with one clear line naming the culprit, not torch's or the allocator's."""

from __future__ import annotations

import re

import pytest
import torch

from segedu.__main__ import build_parser, main
from segedu.crf import CRFConfig, DenseCRF, dense_crf
from segedu.errors import InputError, SegeduError
from segedu.lab.bench import cli as bench_cli
from segedu.lab.bench import throughput
from segedu.metrics import ConfusionMatrix
from segedu.models import MODELS, UNet, build_model

pytestmark = pytest.mark.fault


# 1. model options ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, options, message", [
    ("unet", {"width": 0}, "model 'unet': option width must be a finite number above 0"),
    ("unet", {"width": -1}, "model 'unet': option width must be a finite number above 0"),
    ("unet", {"width": float("nan")}, "model 'unet': option width must be a finite number above 0"),
    ("unet", {"depth": 0}, "model 'unet': option depth must be a whole number of at least 1, got 0"),
    ("unet", {"batch_norm": "no"}, "model 'unet': option batch_norm must be True or False, got 'no'"),
    ("pspnet", {"bins": (0,)}, "model 'pspnet': option bins must be a non-empty tuple"),
    ("deeplabv2", {"rates": ()}, "model 'deeplabv2': option rates must be a non-empty tuple"),
    ("deeplabv1", {"fc6_dilation": 0}, "model 'deeplabv1': option fc6_dilation must be a whole number of at least 1"),
])
def test_build_model_refuses_options_it_would_build_nonsense_from(name, options, message):
    """width=0 and width=-1 used to build a model of 4-channel layers in silence, bins=(0,) and rates=() too."""
    with pytest.raises(InputError, match=re.escape(message)):
        build_model(name, num_classes=3, **options)
    with pytest.raises(InputError, match=re.escape("model 'UNet': option width must be a finite number above 0")):
        UNet(num_classes=3, width=0)  # the class itself, without build_model


@pytest.mark.parametrize("option, message", [
    ("width=-1", "error: model 'unet': option width must be a finite number above 0 (the channel multiplier), got -1"),
    ("width=oops", "error: model 'unet': option width must be a finite number above 0 (the channel multiplier), "
                   "got 'oops'"),
    ("num_classes=3", "error: model 'unet': the data set (or build_model's own arguments) sets num_classes"),
])
def test_cli_checks_every_option_it_forwards_to_the_model_before_reading_data(option, message, monkeypatch, capsys):
    """--width 0 was refused by the parser but --option width=-1 built a model; --option num_classes=3 ended as a
    TypeError. Each is one line now, before any data set is read."""
    import segedu.data

    def no_data(*args, **kwargs):
        raise AssertionError("the data set was read before the model's options were checked")

    monkeypatch.setattr(segedu.data, "build_dataset", no_data)
    assert main(["train", "--model", "unet", "--data", "shapes", "--option", option]) == 2
    assert capsys.readouterr().err.strip().startswith(message)


# 2. --image-size beyond any device -----------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["train", "--model", "unet", "--data", "shapes"], ["bench"]])
def test_image_size_beyond_a_sane_bound_is_refused_with_the_memory_it_would_need(command, capsys):
    """--image-size 60000 reached the allocator (40 GiB for one input image, terabytes to train): refused at parsing,
    naming the size and the memory."""
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([*command, "--image-size", "60000"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert "argument --image-size: image size 60000x60000 is too large: each side may be at most 8192 pixels" in error
    assert "40.2 GiB" in error and "TiB per image" in error
    assert build_parser().parse_args([*command, "--image-size", "8192x16"]).image_size == (8192, 16)


# 3. bench options ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["--batch-size", "0"], "argument --batch-size: must be a whole number of at least 1, got '0'"),
    (["--steps", "-1"], "argument --steps: must be a whole number of at least 1, got '-1'"),
    (["--steps", "0"], "argument --steps: must be a whole number of at least 1, got '0'"),
    (["--warmup", "-1"], "argument --warmup: must be a whole number of at least 0, got '-1'"),
    (["--repeat", "0"], "argument --repeat: must be a whole number of at least 1, got '0'"),
    (["--peak-tflops", "0"], "argument --peak-tflops: must be a finite number above 0, got '0'"),
])
def test_bench_refuses_counts_that_measure_nothing(arguments, message, monkeypatch, capsys):
    """--batch-size 0 reported 0.0 img/s and --steps -1 failed in torch.quantile; both stop at parsing now."""
    monkeypatch.setattr(bench_cli, "run_bench", lambda config, *, log: pytest.fail("the bench ran"))
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "--quick", *arguments])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "BenchConfig.batch_size must be a whole number of at least 1, got 0"),
    ({"steps": -1}, "BenchConfig.steps must be a whole number of at least 1, got -1"),
    ({"modes": ("fp33",)}, "bench mode 'fp33': write fp32 or bf16"),
])
def test_bench_config_refuses_the_same_from_python(options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        throughput.BenchConfig(device="cpu", **options)


def test_bench_model_with_a_bad_option_is_one_line_naming_it(capsys):
    """--models 'unet[width=oops]' raised a TypeError from deep in a layer; now one line naming the entry and option."""
    assert main(["bench", "--quick", "--models", "unet[width=oops]"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: bench model 'unet[width=oops]': model 'unet': option width must be a finite number above 0 "
        "(the channel multiplier), got 'oops'")


# 4. inputs too small to train on -------------------------------------------------------------------------------

def _forward(model, batch, side):
    return model(torch.rand(batch, 3, side, side), auxiliary=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_names_the_smallest_input_it_trains_on(name):
    """In training mode a batch of one 1x1 image met torch's "Expected more than 1 value per channel when training" in
    eight models. Each registered model now either trains on it, or says its name, the size given and the smallest
    size that trains (which does, while one pixel less is refused), or, where no size helps (a batch norm after global
    pooling), that it needs batches of 2 (which train)."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, width=0.0625).train()
    label = type(model).__name__
    if model.minimum_size > 1:  # a size the model takes in no mode (DeepLab v1's pool4): its own message
        with pytest.raises(ValueError, match=rf"{label} needs images of at least {model.minimum_size}x"):
            _forward(model, 1, model.minimum_size - 1)
        _forward(model, 1, model.minimum_size)
        return
    try:
        _forward(model, 1, 1)
    except InputError as error:
        message = str(error)
    else:
        return  # nothing is too small for it (no batch norm on a coarse map)
    assert message.startswith(label) and "1x1" in message
    found = re.search(r"the smallest input it trains on with a batch of one is (\d+)x\1 pixels", message)
    if found is None:
        assert "cannot train on a batch of one image, at any size" in message
        assert "train with batches of at least 2 images" in message
        _forward(model, 2, 1)
        return
    smallest = int(found.group(1))
    assert _forward(model, 1, smallest)[0].shape == (1, 3, smallest, smallest)
    with pytest.raises(InputError, match=rf"{smallest - 1}x{smallest - 1} image.*is {smallest}x{smallest} pixels"):
        _forward(model, 1, smallest - 1)
    model.eval()
    assert _forward(model, 1, 1)[0].shape == (1, 3, 1, 1)  # predicting is not refused


def test_the_size_check_leaves_the_weights_alone_and_a_flop_count_unchanged():
    from segedu.measure import count_flops

    model = build_model("unet", num_classes=3, width=0.0625).train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(InputError, match=r"UNet cannot train on a batch of one 4x4 image.* is 17x17 pixels"):
        model(torch.rand(1, 3, 4, 4))
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    images = torch.rand(1, 3, 32, 32)
    assert count_flops(build_model("unet", num_classes=3, width=0.0625).train(), images) == \
        count_flops(model.eval(), images)


# 5. the confusion matrix ---------------------------------------------------------------------------------------

def test_confusion_matrix_refuses_bool_predictions():
    """A bool tensor (logits > 0, predictions == targets) was counted as classes 0 and 1 in silence."""
    targets = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(InputError, match="predictions must be class indices .* got a bool tensor"):
        ConfusionMatrix(2).update(targets == 1, targets)
    assert ConfusionMatrix(2).update((targets == 1).long(), targets).pixel_accuracy() == 1.0


def test_confusion_matrix_refuses_a_class_count_whose_matrix_cannot_fit(monkeypatch):
    """ConfusionMatrix(10**6) died with the allocator's message for 8 TB; now it names the count and the bytes, both
    when the device's memory is known and when only the allocator's refusal tells."""
    with pytest.raises(InputError, match=r"ConfusionMatrix\(1000000\): a 1000000x1000000 int64 matrix takes 7\.3 TiB"):
        ConfusionMatrix(10 ** 6)
    import segedu.metrics

    monkeypatch.setattr(segedu.metrics, "_memory_bytes", lambda device: None)
    with pytest.raises(InputError, match=r"ConfusionMatrix\(10000000\): .* 727\.6 TiB.*more than the allocator"):
        ConfusionMatrix(10 ** 7)
    assert ConfusionMatrix(1000).matrix.shape == (1000, 1000)


# 6. the dense CRF ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["lattice", "exact"])
def test_dense_crf_refuses_non_finite_logits_and_images(method):
    """NaN logits came back as NaN probabilities in silence."""
    config = CRFConfig(method=method, iterations=1)
    images, logits = torch.rand(1, 3, 6, 8), torch.randn(1, 2, 6, 8)
    broken = logits.clone()
    broken[0, 1, 2, 3] = float("nan")
    with pytest.raises(InputError, match=r"logits \(1, 2, 6, 8\) given to dense_crf hold 1 non-finite value.*"
                                         r"\(0, 1, 2, 3\)"):
        dense_crf(images, broken, config)
    with pytest.raises(InputError, match=r"logits \(2, 6, 8\) given to DenseCRF hold 1 non-finite"):
        DenseCRF(images[0], config)(broken[0])
    glaring = images.clone()
    glaring[0, 0, 0, 0] = float("inf")
    with pytest.raises(InputError, match=r"images \(1, 3, 6, 8\) given to dense_crf hold 1 non-finite value"):
        dense_crf(glaring, logits, config)
    assert isinstance(InputError("x"), SegeduError) and torch.isfinite(dense_crf(images, logits, config)).all()
