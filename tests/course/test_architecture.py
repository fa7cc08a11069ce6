"""Architecture diagrams traced from the models: the shapes are the papers' figures, and no weights are allocated."""

from __future__ import annotations

import time

import numpy
import pytest
import torch
from torch import nn

from segedu.course.architecture import describe, draw, trace
from segedu.models import build_model


def shapes(steps):
    return {step.name: step.shape for step in steps}


def test_the_valid_unet_traces_the_papers_figure_1():
    """Ronneberger et al. 2015, figure 1: 572 -> 568 (64 channels), ..., 28 (1024), back up to 388 (2 classes)."""
    with torch.device("meta"):
        model = build_model("unet", num_classes=2, in_channels=1, padding=False)
    traced = shapes(trace(model, (1, 572, 572)))
    assert traced["encoder.stem"] == (64, 568, 568)
    assert [traced[f"encoder.down.{i}"] for i in range(4)] == [(128, 280, 280), (256, 136, 136), (512, 64, 64),
                                                                 (1024, 28, 28)]
    assert [traced[f"decoder.up.{i}"] for i in range(4)] == [(512, 52, 52), (256, 100, 100), (128, 196, 196),
                                                               (64, 388, 388)]
    assert traced["head"] == (2, 388, 388)


def test_fcn8s_fuses_scores_at_strides_32_16_and_8_without_allocating_its_weights():
    started = time.perf_counter()
    with torch.device("meta"):
        model = build_model("fcn8s", num_classes=21)  # 134M parameters
    steps = trace(model, (3, 224, 224), depth=2)
    traced = shapes(steps)
    assert traced["decoder.score"] == (21, 7, 7) and traced["decoder.skips.level4"] == (21, 14, 14)
    assert traced["decoder.skips.level3"] == (21, 28, 28) and traced["head"] == (21, 224, 224)
    assert time.perf_counter() - started < 30
    assert [step.name for step in steps].index("decoder.score") < [step.name for step in steps].index("head")
    assert not any(step.kind in ("ReLU", "Dropout") for step in steps)  # shape-keeping layers are not drawn


def test_a_plain_module_with_the_three_parts_is_traced_on_its_device_and_drawn():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
            self.decoder = nn.Upsample(scale_factor=2)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, images):
            return self.head(self.decoder(self.encoder(images)))

    steps = trace(Tiny(), (3, 16, 16))
    assert [(s.name, s.shape) for s in steps] == [("encoder.0", (8, 8, 8)), ("decoder", (8, 16, 16)),
                                                  ("head", (4, 16, 16))]
    figure = draw(steps, title="tiny")
    assert len([patch for patch in figure.axes[0].patches if type(patch).__name__ == "Rectangle"]) == len(steps)
    assert "head" in describe(steps) and "4x16x16" in describe(steps)


@pytest.mark.parametrize("name", ["segnet", "deconvnet", "pspnet", "deeplabv1", "deeplabv3plus"])
def test_every_model_traces_from_input_to_logits(name):
    with torch.device("meta"):
        model = build_model(name, num_classes=11)
    steps = trace(model, (3, 224, 224))
    assert steps[0].part == "encoder" and steps[-1].name == "head" and steps[-1].shape[0] == 11


def test_deconvnet_s_paper_bottleneck_shrinks_pool5_to_1x1_and_back_with_the_same_weights():
    """Noh et al. 2015, figure 2 and table 1: fc6 7x7 -> 1x1x4096, fc7 1x1x4096, deconv-fc6 back to 7x7x512."""
    with torch.device("meta"):
        paper = build_model("deconvnet", num_classes=21, bottleneck="paper")
        padded = build_model("deconvnet", num_classes=21)
    traced = shapes(trace(paper, (3, 224, 224), depth=2))
    assert traced["decoder.bottleneck.0"] == (4096, 1, 1) and traced["decoder.bottleneck.3"] == (4096, 1, 1)
    assert traced["decoder.bottleneck.6"] == (512, 7, 7) and traced["head"] == (21, 224, 224)
    assert shapes(trace(padded, (3, 224, 224), depth=2))["decoder.bottleneck.0"] == (4096, 7, 7)
    assert paper.num_parameters() == padded.num_parameters()
    small = build_model("deconvnet", num_classes=3, width=0.0625, bottleneck="paper").eval()
    assert small(torch.rand(1, 3, 224, 224)).shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match=r'takes 224x224 inputs.*gives 8x8.*bottleneck="padded"'):
        small(torch.rand(1, 3, 256, 256))
    with pytest.raises(ValueError, match='"padded" or "paper"'):
        build_model("deconvnet", num_classes=3, bottleneck="narrow")


def reads(steps, name):
    """The names of the earlier steps whose outputs reach step `name`, with the kind of link."""
    by_name = {step.name: step for step in steps}
    return {(steps[source].name, kind) for source, _, kind in by_name[name].sources}


def test_unet_s_decoder_reads_the_encoder_map_of_its_own_level_and_the_diagram_marks_the_crop():
    """Ronneberger et al. 2015, figure 1: each expanding step concatenates the contracting path's map of the same
    level ("copy and crop"), deepest first."""
    with torch.device("meta"):
        model = build_model("unet", num_classes=2, in_channels=1, padding=False)
    steps = trace(model, (1, 572, 572))
    pairs = [("decoder.up.0", "encoder.down.2"), ("decoder.up.1", "encoder.down.1"),
             ("decoder.up.2", "encoder.down.0"), ("decoder.up.3", "encoder.stem")]
    for reader, copied in pairs:
        assert (copied, "features") in reads(steps, reader)
    assert reads(steps, "decoder.up.1") == {("decoder.up.0", "features"), ("encoder.down.1", "features")}
    figure = draw(steps)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("crop") == 4  # the valid convolutions shrink every copied map
    padded = draw(trace(build_model("unet", num_classes=2, in_channels=1, width=0.25), (1, 64, 64)))
    assert "crop" not in [text.get_text() for text in padded.axes[0].texts]


@pytest.mark.parametrize("name, depth", [("segnet", 1), ("deconvnet", {"decoder": 2})])
def test_segnet_and_deconvnet_unpool_with_the_switches_of_the_mirrored_encoder_stage(name, depth):
    """Badrinarayanan et al. 2017, figure 3; Noh et al. 2015, figure 2: decoder stage k unpools with the max-pooling
    indices of encoder stage 4 - k."""
    with torch.device("meta"):
        model = build_model(name, num_classes=11)
    steps = trace(model, (3, 224, 288), depth=depth)
    decoder = [step.name for step in steps if step.name.startswith("decoder.") and ".stages." in step.name]
    assert len(decoder) == 5
    for k, reader in enumerate(decoder):
        assert (f"encoder.stages.{4 - k}", "switches") in reads(steps, reader)
        assert not any(kind == "switches" and source != f"encoder.stages.{4 - k}"
                       for source, kind in reads(steps, reader))
    legend = [text.get_text() for text in draw(steps).axes[0].get_legend().get_texts()]
    assert "pooling switches" in legend and "skip" not in legend


def test_frrn_carries_a_full_resolution_residual_stream_beside_the_pooling_stream():
    """Pohlen et al. 2017, figure 3: every full-resolution residual unit outputs a pooled map and the residual stream
    at the input's resolution, and reads both from the unit before it."""
    with torch.device("meta"):
        model = build_model("frrn", num_classes=11)
    steps = trace(model, (3, 224, 288))
    units = [step for step in steps if step.name.startswith(("encoder.down.", "decoder.up."))]
    assert len(units) == 7
    for unit in units:
        assert len(unit.shapes) == 2 and unit.shapes[1][-2:] == (224, 288) and unit.shapes[0][-2] < 224
    second = [step.name for step in steps].index("encoder.down.1")
    assert {(source, position) for source, position, _ in steps[second].sources} == {(second - 1, 0),
                                                                                     (second - 1, 1)}
    figure = draw(steps)
    assert len([patch for patch in figure.axes[0].patches if type(patch).__name__ == "Rectangle"]) == \
        sum(len(step.shapes) for step in steps)  # both streams drawn
    exchanges = [patch for patch in figure.axes[0].patches  # one link between the two streams of each unit
                 if type(patch).__name__ == "FancyArrowPatch" and patch.get_linestyle() == ":"]
    assert len(exchanges) == len(units)
    assert "the two streams exchange" in [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    with torch.device("meta"):
        unet = draw(trace(build_model("unet", num_classes=11), (3, 224, 224)))
    assert "the two streams exchange" not in [text.get_text() for text in unet.axes[0].get_legend().get_texts()]


def test_a_module_named_only_by_its_position_is_labelled_by_its_kind():
    """PSPNet's decoder is a sequence: "decoder.0" is drawn as "PyramidPooling", not as "0"."""
    with torch.device("meta"):
        figure = draw(trace(build_model("pspnet", num_classes=11), (3, 224, 288)))
    labels = [text.get_text() for text in figure.axes[0].texts if text.get_rotation() == 90]
    assert "PyramidPooling" in labels and "0" not in labels and "level5" in labels
    with torch.device("meta"):
        largefov = draw(trace(build_model("deeplabv1", num_classes=11), (3, 224, 288)))
    labels = [text.get_text() for text in largefov.axes[0].texts if text.get_rotation() == 90]
    assert "0: Conv2d" in labels and "3: Conv2d" in labels  # fc6 and fc7, both Conv2d, told apart


def test_deeplabv3plus_decodes_from_the_aspp_and_a_stride_4_encoder_level():
    """Chen et al. 2018, figure 2: the decoder concatenates ASPP's output, upsampled, with reduced low-level
    features of output stride 4."""
    with torch.device("meta"):
        model = build_model("deeplabv3plus", num_classes=11, backbone="efficientnet_lite0")
    steps = trace(model, (3, 224, 288))
    low = next(step for step in steps if step.name == "decoder.reduce")
    assert reads(steps, "decoder.reduce") == {("encoder.levels.level2", "features")}
    assert low.shape[-2:] == (224 // 4, 288 // 4)
    assert {name for name, _ in reads(steps, "decoder.refine")} == {"decoder.reduce", "decoder.aspp"}


@pytest.fixture(autouse=True)
def close_figures():
    """Each test's diagrams closed after it: a module of them would keep dozens of figures open."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def link_colours(figure) -> dict[str, int]:
    """How many links of each colour (hex) the diagram draws."""
    from matplotlib.colors import to_hex

    colours = [to_hex(patch.get_edgecolor()) for patch in figure.axes[0].patches
               if type(patch).__name__ == "FancyArrowPatch"]
    return {colour: colours.count(colour) for colour in set(colours)}


SKIP_BLUE, TRUNK_GREY = "#4c72b0", "#595959"  # written here: the skips blue as the encoder, the trunk grey (0.35)


def test_a_skip_is_drawn_apart_from_the_trunk_even_where_both_arc():
    """Chen et al. 2018, figure 2: DeepLab v3+'s skip is its low-level path (level 2, reduced, into the decoder); the
    ASPP on level 5 is the main path although the diagram draws it as an arc over the reduction. U-Net's four copied
    maps are its skips (Ronneberger et al. 2015, figure 1); SegNet has none, only switches."""
    with torch.device("meta"):
        deeplab = draw(trace(build_model("deeplabv3plus", num_classes=11, backbone="efficientnet_lite0"),
                             (3, 224, 288)))
        unet = draw(trace(build_model("unet", num_classes=2, in_channels=1, padding=False), (1, 572, 572)))
        segnet = draw(trace(build_model("segnet", num_classes=11), (3, 224, 288)))
    assert link_colours(deeplab)[SKIP_BLUE] == 2  # level2 -> reduce -> refine; level5 -> aspp stays grey
    assert link_colours(deeplab)[TRUNK_GREY] == 7  # level1 ... level5, aspp, refine, head
    assert link_colours(unet)[SKIP_BLUE] == 4
    assert SKIP_BLUE not in link_colours(segnet)


def test_fcn_skips_are_its_pool_scores_and_pyramids_and_streams_are_trunk():
    """Long et al. 2015, figure 3: FCN-8s's skips are pool4's and pool3's scores, each read from the encoder and added
    on the way up (two links each). PSPNet's pooled bins, coarser than level 5, branch off the trunk and rejoin it
    (Zhao et al. 2017, figure 3); FRRN's two streams are both its trunk (Pohlen et al. 2017, figure 3)."""
    with torch.device("meta"):
        fcn = draw(trace(build_model("fcn8s", num_classes=21), (3, 224, 224)))
        pyramid = draw(trace(build_model("pspnet", num_classes=11), (3, 224, 288), depth={"decoder": 2}))
        frrn = draw(trace(build_model("frrn", num_classes=11), (3, 224, 288)))
    assert link_colours(fcn)[SKIP_BLUE] == 4
    for figure in (pyramid, frrn):
        assert SKIP_BLUE not in link_colours(figure)
        assert "skip" not in [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_fcn8s_adds_the_pool4_and_pool3_scores():
    """Long et al. 2015, figure 3: FCN-16s adds a score of pool4 (stride 16), FCN-8s also one of pool3 (stride 8)."""
    with torch.device("meta"):
        model = build_model("fcn8s", num_classes=21)
    steps = trace(model, (3, 224, 224))
    backbone = next(step for step in steps if step.name == "encoder.backbone")
    by_name = {step.name: step for step in steps}
    for skip, side in (("decoder.skips.level4", 14), ("decoder.skips.level3", 28)):
        (source, position, kind), = by_name[skip].sources
        assert steps[source] is backbone and backbone.shapes[position][-2] == side and kind == "features"


@pytest.mark.parametrize("name", ["unet", "segnet", "deconvnet", "fcn8s", "frrn", "pspnet"])
def test_every_diagram_is_drawn_at_100_dpi_with_text_of_at_least_9_points_and_at_most_10_inches_wide(name):
    with torch.device("meta"):
        model = build_model(name, num_classes=11)
    figure = draw(trace(model, (3, 224, 224), depth={"decoder": 2} if name == "deconvnet" else 1), title=name)
    axis = figure.axes[0]
    assert figure.dpi >= 100 and figure.get_size_inches()[0] <= 10.0
    sizes = [text.get_fontsize() for text in axis.texts + axis.get_legend().get_texts() + [axis.title]]
    assert min(sizes) >= 9


def test_a_step_can_be_drawn_under_its_papers_name_and_a_wrong_name_is_refused():
    """FCN's fc6 and fc7 are `encoder.classifier.0` and `.3` in the code; the diagram can say what the paper says."""
    with torch.device("meta"):
        steps = trace(build_model("fcn8s", num_classes=21), (3, 224, 224), depth={"encoder": 2})
    figure = draw(steps, names={"encoder.classifier.0": "fc6", "encoder.classifier.3": "fc7"})
    labels = [text.get_text() for text in figure.axes[0].texts if text.get_rotation() == 90]
    assert labels.count("fc6") == 1 and labels.count("fc7") == 1 and "classifier.0" not in labels
    assert "classifier.3" not in labels and "score" in labels  # the others keep their module names
    with pytest.raises(ValueError, match="encoder.classifier.9"):
        draw(steps, names={"encoder.classifier.9": "fc8"})


def test_long_names_get_room_and_never_run_into_the_legend():
    with torch.device("meta"):
        steps = trace(build_model("deconvnet", num_classes=11), (3, 224, 224), depth={"decoder": 2})
    names = {f"decoder.unpooling.stages.{i}": f"upsample{5 - i} + conv{5 - i}_D, wide" for i in range(5)}
    figure = draw(steps, names=names)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend = figure.axes[0].get_legend().get_window_extent(renderer)
    labels = [text for text in figure.axes[0].texts if text.get_rotation() == 90]
    assert len(labels) == len(steps)
    assert not [text.get_text() for text in labels if text.get_window_extent(renderer).overlaps(legend)]


def test_frrn_s_exchange_arrows_cross_no_shape_label():
    """The dotted arrows between FRRN's two streams run from box to box; the lower stream's shapes sit under it."""
    from matplotlib.patches import FancyArrowPatch

    with torch.device("meta"):
        figure = draw(trace(build_model("frrn", num_classes=11), (3, 224, 288)))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    arrows = [patch.get_window_extent(renderer) for patch in figure.axes[0].patches
              if isinstance(patch, FancyArrowPatch) and patch.get_linestyle() == ":"]
    shapes = [text for text in figure.axes[0].texts if "x" in text.get_text() and "\n" in text.get_text()]
    assert len(arrows) == 7 and shapes
    crossed = [text.get_text().replace("\n", " ") for text in shapes
               if any(text.get_window_extent(renderer).overlaps(arrow) for arrow in arrows)]
    assert not crossed


@pytest.mark.parametrize("name, options, shape, depth", [
    ("fcn8s", {}, (3, 224, 224), {"encoder": 2}), ("segnet", {}, (3, 224, 224), 1),
    ("deconvnet", {}, (3, 224, 224), {"decoder": 2}), ("unet", {"padding": False}, (3, 572, 572), 1),
    ("deeplabv3plus", {"backbone": "efficientnet_lite0"}, (3, 224, 288), 1), ("frrn", {}, (3, 224, 288), 1)])
def test_a_link_over_other_steps_passes_no_box_and_no_label(name, options, shape, depth):
    """A skip, switch or trunk link that bridges steps rises from its source's label and falls onto its reader's: on
    the way it crosses no box and no shape label, so it cannot be read as entering one (FCN's pool3 skip once
    seemed to feed upscore_pool4)."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    with torch.device("meta"):
        figure = draw(trace(build_model(name, num_classes=11, **options), shape, depth=depth))
    axis = figure.axes[0]
    figure.canvas.draw()
    to_data = axis.transData.inverted()
    renderer = figure.canvas.get_renderer()
    areas = [patch.get_bbox() for patch in axis.patches if isinstance(patch, Rectangle)]
    areas += [text.get_window_extent(renderer).transformed(to_data) for text in axis.texts
              if "\n" in text.get_text()]  # the shape labels
    bridges = [patch.get_path() for patch in axis.patches if isinstance(patch, FancyArrowPatch)
               and any(code == patch.get_path().CURVE4 for code in patch.get_path().codes)]
    assert bridges
    crossed = 0
    for path in bridges:  # points on the curves themselves (not their control points), the arrowhead left out
        curve = [segment for segment, code in path.iter_bezier() if code == path.CURVE4]
        points = numpy.concatenate([segment(numpy.linspace(0, 1, 80)) for segment in curve])
        start, end = points[0], points[-1]
        for point in points:
            if min(numpy.hypot(*(point - start)), numpy.hypot(*(point - end))) < 0.05:
                continue  # where it leaves its source's label and lands on its reader's
            crossed += any(area.contains(*point) for area in areas)
        crossed += any(area.contains(*end) and area.y1 > end[1] + 0.05 for area in areas)  # a tip sunk in a label
    assert crossed == 0
