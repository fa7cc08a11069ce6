"""pix2pix on the membrane stand-in: the losses' directions, the painter's training, its scores, its checkpoints."""

from __future__ import annotations

import torch

from segedu.lab import pix2pix


def test_the_discriminator_loss_is_low_when_it_calls_real_real_and_painted_painted():
    sure = torch.full((2, 1, 4, 4), 6.0)
    right = pix2pix.discriminator_loss(sure, -sure)
    wrong = pix2pix.discriminator_loss(-sure, sure)
    assert right < 0.01 < 5 < wrong
    # undecided on every patch: log 2 for each half, halved and summed
    assert torch.isclose(pix2pix.discriminator_loss(0 * sure, 0 * sure), torch.log(torch.tensor(2.0)))


def test_the_painter_is_pushed_to_make_the_discriminator_say_real():
    logits = torch.zeros(1, 1, 3, 3, requires_grad=True)
    pix2pix.painter_adversarial_loss(logits).backward()
    assert (logits.grad < 0).all()  # descending the loss raises the "real" logit of every patch
    assert pix2pix.painter_adversarial_loss(torch.full((1, 1, 3, 3), 5.0)) < 0.01


def test_scores_of_a_copy_a_flat_painting_and_the_class_means():
    generator = torch.Generator().manual_seed(0)
    labels = (torch.rand(4, 1, 32, 32, generator=generator) > 0.3).float()
    images = 0.2 + 0.5 * labels + 0.1 * torch.rand(4, 1, 32, 32, generator=generator)
    copy = pix2pix.painting_scores(images, labels, images)
    assert copy == {"l1": 0.0, "texture": 1.0, "detail": 1.0}
    means = torch.where(labels == 1, images[labels == 1].mean(), images[labels == 0].mean())
    flat = pix2pix.painting_scores(means, labels, images)  # grey varies between classes, not inside cells
    assert flat["texture"] < 1e-4 and flat["detail"] < 1e-4
    assert abs(flat["l1"] - 0.025) < 0.005  # the mean deviation of a uniform spread of 0.1 from its mean
    doubled = pix2pix.painting_scores(means + 2 * (images - means), labels, images)
    assert abs(doubled["texture"] - 2) < 1e-4 and abs(doubled["detail"] - 2) < 1e-4


def test_with_and_without_the_discriminator_the_painter_starts_alike_and_sees_the_same_batches():
    """At learning rate 0 nothing is learned, yet batch norm's running statistics follow every batch the painter
    sees: equal states after a few steps mean equal initial weights, batches and turns in both ways."""
    labels, images = pix2pix.label_and_image_tiles("membranes", "train", size=32, scale=64)
    plain = pix2pix.train_painter(labels, images, adversarial=False, seed=3, steps=4, learning_rate=0.0)
    adversarial = pix2pix.train_painter(labels, images, adversarial=True, seed=3, steps=4, learning_rate=0.0)
    other_seed = pix2pix.train_painter(labels, images, adversarial=False, seed=4, steps=4, learning_rate=0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), adversarial.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), other_seed.state_dict().values()))


def test_adversarial_training_learns_to_paint_the_held_out_label_maps():
    labels, images = pix2pix.label_and_image_tiles("membranes", "train", size=32, scale=64)
    held_labels, held_images = pix2pix.label_and_image_tiles("membranes", "val", size=32, scale=64)
    untrained = pix2pix.painting_scores(pix2pix.paint(pix2pix.build_painter(seed=3).eval(), held_labels),
                                        held_labels, held_images)["l1"]
    seen = []
    painter = pix2pix.train_painter(labels, images, adversarial=True, seed=3, steps=40, learning_rate=2e-3,
                                    progress=lambda step, losses: seen.append(losses))
    assert len(seen) == 40 and set(seen[0]) == {"l1", "discriminator", "adversarial"}
    assert not painter.training
    trained = pix2pix.painting_scores(pix2pix.paint(painter, held_labels), held_labels, held_images)["l1"]
    assert trained < 0.8 * untrained


def test_the_command_writes_two_checkpoints_that_load_with_their_scores(tmp_path):
    from segedu.checkpoint import load_model

    pix2pix.main(["--out", str(tmp_path), "--data", "membranes", "--steps", "2"])
    for name in ("l1_painter_isbi2012", "pix2pix_isbi2012"):
        model, state = load_model(tmp_path / f"{name}.pt")
        assert set(state["metrics"]) >= {"l1", "texture", "detail", "split", "steps"}
        with torch.no_grad():
            assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)


def test_a_head_learns_from_real_tiles_and_not_from_blank_ones():
    from segedu.lab.statistics import miou_of

    labels, images = pix2pix.label_and_image_tiles("membranes", "train", size=64, scale=128)
    held_labels, held_images = pix2pix.label_and_image_tiles("membranes", "val", size=64, scale=128)
    runs = pix2pix.painted_data_runs({"real": images, "blank": torch.full_like(images, 0.5)}, labels, held_images,
                                     held_labels, seeds=(0, 1), epochs=8)
    assert {name: len(scores) for name, scores in runs.items()} == {"real": 2, "blank": 2}
    assert runs["real"][0].confusions.shape == (len(held_labels), 2, 2)
    score = {name: float(miou_of(sum(s.confusions.sum(0) for s in scores)[None].double()))
             for name, scores in runs.items()}
    assert score["real"] > score["blank"] + 0.15
