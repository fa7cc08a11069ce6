"""The explorers headless: moving a control redraws the picture; the stepper ends at PyTorch's answer;
the receptive-field viewer agrees with the formula; FeatureMapExplorer removes its hooks."""

import base64
import warnings

import matplotlib
import pytest
import torch
from torch import nn

from segedu.course import widgets
from segedu.data import Shapes
from segedu.language import set_language


SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}


@pytest.fixture
def drawn(monkeypatch) -> list:
    """The figures the explorers render from now on (each picture an explorer stores is drawn by figure_bytes)."""
    from segedu.course import figures as course_figures

    figures = []
    real = course_figures.figure_bytes
    monkeypatch.setattr(course_figures, "figure_bytes",
                        lambda figure, *args, **kwargs: figures.append(figure) or real(figure, *args, **kwargs))
    return figures


def _changes(explorer, control, value) -> bool:
    before = explorer.image.value
    control.value = value
    return explorer.image.value != before and bytes(explorer.image.value).startswith(SIGNATURES[explorer.image_format])


def test_segmentation_viewer_redraws_on_sample_and_opacity():
    viewer = widgets.SegmentationViewer(Shapes(size=32, length=3))
    assert _changes(viewer, viewer.index, 2)
    assert _changes(viewer, viewer.alpha, 0.9)
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # readers without a kernel (static site, GitHub) get the current picture
    assert base64.b64decode(bundle["image/jpeg"]) == viewer.image.value
    assert viewer.image_format == "jpeg" and viewer.image.format == "jpeg"  # a photograph: JPEG


def test_the_segmentation_viewers_picture_speaks_korean_and_names_void_where_the_mask_has_some(monkeypatch, drawn):
    class WithVoid(Shapes):  # a sample whose mask has unlabelled pixels, as CamVid's do
        def __getitem__(self, index):
            image, mask = super().__getitem__(index)
            return image, torch.where(torch.arange(mask.shape[-1]) < 4, torch.tensor(255), mask)

    monkeypatch.setenv("SEGEDU_LANG", "ko")
    with matplotlib.rc_context():
        set_language("ko")
        widgets.SegmentationViewer(WithVoid(size=32, length=3))
    titles = [axis.get_title() for axis in drawn[-1].axes] + [drawn[-1].get_suptitle()]
    assert titles[:3] == ["이미지", "마스크 (클래스 색)", "겹쳐 보기, 불투명도 0.50"] and titles[-1] == "샘플 0 / 3"
    legend = drawn[-1].axes[2].get_legend()
    assert [text.get_text() for text in legend.get_texts()][-1] == "void(채점 제외)"
    monkeypatch.setenv("SEGEDU_LANG", "en")
    widgets.SegmentationViewer(Shapes(size=32, length=3))  # no void pixel: no void entry
    assert "void (not scored)" not in [text.get_text() for text in drawn[-1].axes[2].get_legend().get_texts()]


def test_transposed_conv_stepper_paints_pixel_by_pixel_up_to_torch():
    inputs, kernel = torch.tensor([[1.0, -2.0], [3.0, 0.5]]), torch.arange(9.0).view(3, 3)
    stepper = widgets.TransposedConvStepper(inputs, kernel, stride=2)
    full = torch.nn.functional.conv_transpose2d(inputs[None, None], kernel[None, None], stride=2)[0, 0]
    assert torch.allclose(stepper.partial_output(4, 2), full)
    one_pixel = stepper.partial_output(1, 2)
    assert torch.allclose(one_pixel[:3, :3], kernel) and one_pixel[3:].abs().sum() == 0
    assert _changes(stepper, stepper.step, 3)
    assert _changes(stepper, stepper.stride, 3) and "True" in stepper.caption.value


def test_transposed_conv_stepper_kernel_size_and_overlap():
    stepper = widgets.TransposedConvStepper(torch.ones(2, 2), torch.arange(9.0).view(3, 3), stride=2)
    assert "uneven overlap: inner pixels are painted 1, 2, 4 times" in stepper.caption.value  # section 5's counts
    assert _changes(stepper, stepper.kernel_size, 4)
    assert torch.equal(stepper.kernel, torch.ones(4, 4))
    assert "even overlap: every inner pixel is painted 4 times" in stepper.caption.value  # k = 2s: 2 per axis
    stepper.kernel_size.value = 3
    assert torch.equal(stepper.kernel, torch.arange(9.0).view(3, 3))  # the given kernel back at its own size
    stepper.stride.value = 3
    assert "every inner pixel is painted 1 time" in stepper.caption.value  # k = s: the paintings tile
    assert widgets.TransposedConvStepper.overlap_counts(5, 2) == [4, 6, 9]  # 2 or 3 per axis


def test_transposed_conv_stepper_stored_view_opens_where_asked_and_names_the_overlap(drawn):
    """The picture kept in a saved notebook is the first view: it opens on `step` and its title carries the overlap
    (the caption below the picture is not kept)."""
    stepper = widgets.TransposedConvStepper(torch.ones(2, 2), torch.ones(3, 3), stride=2, step=2)
    assert stepper.step.value == 2
    titles = [drawn[-1].get_suptitle()] + [axis.get_title() for axis in drawn[-1].axes]
    assert "uneven overlap: inner pixels are painted 1, 2, 4 times" in titles[0]
    assert "output after 2 of 4 pixels" in titles
    with pytest.raises(ValueError, match="step=5"):
        widgets.TransposedConvStepper(torch.ones(2, 2), torch.ones(3, 3), step=5)


@pytest.mark.parametrize("kernel_size,dilation,depth", [(3, 1, 1), (3, 2, 3), (5, 3, 2)])
def test_receptive_field_viewer_measures_the_formula(kernel_size, dilation, depth):
    viewer = widgets.ReceptiveFieldViewer(kernel_size=kernel_size, dilation=dilation, depth=depth)
    formula = 1 + depth * dilation * (kernel_size - 1)
    assert f"measured {formula} px" in viewer.caption.value
    assert _changes(viewer, viewer.depth, depth + 1)


def _small_net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1))


def test_feature_map_explorer_layers_channels_grid_overlay_and_hooks():
    model = _small_net()
    explorer = widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16))
    assert [name for _, name in explorer.layer.options] == ["0", "1", "2", "3"]
    assert explorer.maps["2"].shape == (1, 4, 8, 8)
    assert _changes(explorer, explorer.channel, 2)
    assert _changes(explorer, explorer.layer, "3") and explorer.channel.max == 5
    assert _changes(explorer, explorer.view, "grid")
    explorer.view.value = "channel"
    assert _changes(explorer, explorer.overlay, 0.5)
    assert sum(len(m._forward_hooks) for m in model.modules()) == 4
    explorer.close()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_feature_map_explorer_context_manager_and_bad_layer_names():
    model = _small_net()
    with widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16), layers=["3"]):
        assert sum(len(m._forward_hooks) for m in model.modules()) == 1
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    with pytest.raises(ValueError, match="no module named \\['conv9'\\]"):
        widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16), layers=["conv9"])


def test_the_feature_map_explorer_opens_on_the_layer_the_lesson_names():
    model = _small_net()
    default = widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16))
    assert default.layer.value == "0"
    chosen = widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16), shown="2")
    assert chosen.layer.value == "2" and chosen.channel.max == 3
    assert chosen.image.value != default.image.value  # the stored picture is the chosen layer's, not the first's
    with pytest.raises(ValueError, match="shown='9'"):
        widgets.FeatureMapExplorer(model, torch.rand(3, 16, 16), shown="9")
    assert sum(len(m._forward_hooks) for m in model.modules()) == 8  # the refused explorer left no hooks behind
    default.close(), chosen.close()


def test_the_architecture_explorer_draws_the_chosen_model():
    explorer = widgets.ArchitectureExplorer({"U-Net": ("unet", {"num_classes": 2, "width": 0.25}, 1),
                                             "SegNet": ("segnet", {"num_classes": 11}, 1)}, (3, 64, 64))
    assert explorer.image_format == "png"  # a drawing: exact lines and letters
    assert _changes(explorer, explorer.model, "SegNet")
    first = widgets.ArchitectureExplorer({"U-Net": ("unet", {"num_classes": 2, "width": 0.25}, 1),
                                          "SegNet": ("segnet", {"num_classes": 11}, 1)}, (3, 64, 64), shown="SegNet")
    assert first.model.value == "SegNet" and bytes(first.image.value) == bytes(explorer.image.value)
    with pytest.raises(ValueError, match="shown='FCN'"):
        widgets.ArchitectureExplorer({"U-Net": ("unet", {"num_classes": 2}, 1)}, (3, 64, 64), shown="FCN")


def test_an_explorers_picture_is_in_the_learners_language(monkeypatch, drawn):
    """An explorer's figure is drawn outside IPython's figure display, so its texts are translated where it is
    rendered: the architecture legend's parts in Korean, as notebook 12's inline FRRN figure has them."""
    monkeypatch.setenv("SEGEDU_LANG", "ko")  # restored after the test, as the font settings are below
    with matplotlib.rc_context(), warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        set_language("ko")  # as the Korean notebooks do: NanumGothic draws the Hangul
        widgets.ArchitectureExplorer({"U-Net": ("unet", {"num_classes": 2, "width": 0.25}, 1)}, (3, 64, 64))
    assert not [str(warning.message) for warning in warned if "missing from font" in str(warning.message)]
    texts = {text.get_text() for text in drawn[-1].findobj(lambda artist: hasattr(artist, "get_text"))}
    assert {"인코더", "디코더"} <= texts and "encoder" not in texts
    assert any("64x64 이미지" in text for text in texts)
