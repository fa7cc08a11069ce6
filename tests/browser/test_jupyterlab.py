"""The course in JupyterLab, in Chromium: every notebook in order; notebooks that hold every kind of widget run
from a restarted kernel on the segedu kernel without errors or warnings (the longest ones up to the widget under
test); controls change what the widgets draw
(compared pixel by pixel); a training cell shows a live progress bar and live loss/mIoU curves, and finishes."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from segedu.course.toc import COURSE

pytestmark = pytest.mark.browser

STATE = """(last) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.slice(0, last + 1).filter(cell => cell.model.type === 'code');
  return {executed: cells.filter(cell => cell.model.executionCount !== null).length, total: cells.length,
          status: panel.sessionContext.session.kernel.status,
          errors: panel.node.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length};
}"""


def cell_index(page, code: str) -> int:
    """The index of the notebook's only cell whose source contains `code`."""
    indices = page.evaluate("""code => window.jupyterapp.shell.currentWidget.content.widgets
        .map((cell, index) => cell.model.sharedModel.getSource().includes(code) ? index : -1)
        .filter(index => index >= 0)""", code)
    assert len(indices) == 1, f"{len(indices)} cells contain {code!r}"
    return indices[0]


def restart_and_run(page, *, up_to: str | None = None, timeout: float = 240, while_running=None) -> dict:
    """Kernel > Restart Kernel and Run All Cells, as a learner does it (outputs cleared first); waits for the end.

    With `up_to`, "Restart Kernel and Run up to Selected Cell" instead, the selected cell being the one whose
    source contains `up_to`: the cells after the widget under test cost CI minutes and nbval runs them anyway.
    `while_running(page)` is called every 0.1 s until the run ends (to watch live outputs)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    if up_to is None:
        last = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length - 1")
        command = "notebook:restart-run-all"
    else:
        last = cell_index(page, up_to)
        page.evaluate("index => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = index; }", last)
        command = "notebook:restart-and-run-to-selected"
    page.evaluate("command => { window.jupyterapp.commands.execute(command); }", command)
    page.locator(".jp-Dialog .jp-mod-accept").click()  # "Restart Kernel?" -> Confirm
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(STATE, last)
        if state["status"] == "idle" and (state["executed"] == state["total"] or state["errors"]):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the notebook did not finish in {timeout} s: {state}")
        if while_running is not None:
            while_running(page)
        page.wait_for_timeout(100)


def assert_clean_run(page, state: dict) -> None:
    texts = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    assert not texts, f"error or warning output: {texts[0][:1500]}"
    assert state["executed"] == state["total"], state
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name") == "segedu"
    assert page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName").first.inner_text() == "Python (segedu)"


def output_of(page, code: str):
    """The output area of the code cell whose source contains `code`."""
    cell = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=code))
    assert cell.count() == 1, f"{cell.count()} cells contain {code!r}"
    return cell.locator(".jp-OutputArea")


def pixels(image) -> np.ndarray:
    image.scroll_into_view_if_needed()
    return np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB"), dtype=np.int16)


def redraws(page, image, act) -> float:
    """Do `act()`; wait for the widget's image to be replaced; mean absolute pixel change (0-255)."""
    before_source, before = image.get_attribute("src"), pixels(image)
    act()
    page.wait_for_function("([element, source]) => element.src !== source",
                           arg=[image.element_handle(), before_source], timeout=30_000)
    page.wait_for_timeout(200)  # let the new PNG decode
    after = pixels(image)
    if after.shape != before.shape:
        return 255.0
    return float(np.abs(after - before).mean())


def nudge(slider, key: str = "ArrowRight", times: int = 1) -> None:
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


def open_clean(lab, page, notebook: str):
    lab.open(page, notebook)
    page.wait_for_timeout(1000)  # the widget manager restores saved widgets once the kernel is there
    assert page.get_by_text("Error displaying widget").count() == 0, "saved widget outputs do not display"
    return page


def test_file_browser_lists_every_notebook_in_course_order(lab, page):
    page.goto(f"{lab.url}/lab?token={lab.token}")
    names = page.locator(".jp-DirListing-itemName")
    names.first.wait_for()
    assert names.all_inner_texts() == [lesson.notebook for lesson in COURSE]


def test_segmentation_viewer(lab, page):
    open_clean(lab, page, "00_segmentation_basics.ipynb")
    assert_clean_run(page, restart_and_run(page, up_to="widgets.SegmentationViewer(camvid)"))
    output = output_of(page, "widgets.SegmentationViewer(camvid)")
    image = output.locator(".widget-image")
    sliders = output.locator(".widget-slider")
    assert sliders.count() == 2 and image.count() == 1
    assert redraws(page, image, lambda: nudge(sliders.nth(0))) > 1.0        # another frame
    assert redraws(page, image, lambda: nudge(sliders.nth(1), times=5)) > 0.2  # more opaque overlay


def test_feature_map_explorer_slider_and_layer_dropdown(lab, page):
    open_clean(lab, page, "01_one_by_one_convolution.ipynb")
    assert_clean_run(page, restart_and_run(page))
    output = output_of(page, "widgets.FeatureMapExplorer(fully_convolutional, scene)")
    image = output.locator(".widget-image")
    channel = output.locator(".widget-slider").first
    assert "channel" in channel.inner_text()
    assert redraws(page, image, lambda: nudge(channel)) > 0.5
    layer = output.locator(".widget-dropdown select")
    first = layer.input_value()
    assert redraws(page, image, lambda: layer.select_option(index=8)) > 0.5  # conv3: another shape, other maps
    assert layer.input_value() != first
    assert "conv3" in layer.locator("option:checked").inner_text()


def test_transposed_convolution_stepper_advances(lab, page):
    open_clean(lab, page, "02_transposed_convolution.ipynb")
    assert_clean_run(page, restart_and_run(page, up_to="widgets.TransposedConvStepper("))
    output = output_of(page, "widgets.TransposedConvStepper(")
    step = output.locator(".widget-slider").first
    assert "pixels painted" in step.inner_text()
    before = step.locator(".widget-readout").inner_text()
    assert redraws(page, output.locator(".widget-image"), lambda: nudge(step)) > 0.2
    assert step.locator(".widget-readout").inner_text() == str(int(before) + 1)


def test_receptive_field_viewer(lab, page):
    from playwright.sync_api import expect

    open_clean(lab, page, "05_atrous_convolution.ipynb")
    assert_clean_run(page, restart_and_run(page, up_to="widgets.ReceptiveFieldViewer("))
    output = output_of(page, "widgets.ReceptiveFieldViewer(")
    caption = output.locator(".widget-html")
    before = caption.inner_text()
    dilation = output.locator(".widget-slider").filter(has_text="dilation")
    assert redraws(page, output.locator(".widget-image"), lambda: nudge(dilation)) > 0.2
    expect(caption).not_to_have_text(before, timeout=30_000)  # the caption is its own update from the kernel
    expect(caption).to_contain_text("measured")


def test_training_cell_shows_live_progress_and_curves(lab, page):
    open_clean(lab, page, "04_skip_connections.ipynb")
    seen = {"bar": False, "plots": set()}

    def watch(page):
        training = output_of(page, "viz.LivePlot(\"Three heads trained together")
        if training.locator(".widget-hprogress, .jp-OutputArea-output progress, .widget-progress").count():
            seen["bar"] = True
        plots = training.locator(".jp-RenderedImage img")
        if plots.count():
            seen["plots"].add(plots.first.get_attribute("src")[:64] + str(len(plots.first.get_attribute("src"))))

    state = restart_and_run(page, up_to="widgets.FeatureMapExplorer(model, val_images[5]",
                            timeout=480, while_running=watch)
    assert_clean_run(page, state)
    assert seen["bar"], "no progress bar was shown while training"
    assert len(seen["plots"]) >= 2, "the loss/mIoU plot was not redrawn during training"
    training = output_of(page, "viz.LivePlot(\"Three heads trained together")
    assert training.locator(".jp-RenderedImage img").count() == 1  # one plot, updated in place
    explorer = output_of(page, "widgets.FeatureMapExplorer(model, val_images[5]")
    assert redraws(page, explorer.locator(".widget-image"),
                   lambda: explorer.locator(".widget-dropdown select").select_option(index=2)) > 0.2


def _street_png(path) -> None:
    """A small street-like photo: a bright sky over green and a dark road, 300x400."""
    picture = np.zeros((300, 400, 3), dtype=np.uint8)
    picture[:100] = (225, 230, 235)
    picture[100:200] = (40, 170, 60)
    picture[200:] = (70, 70, 75)
    Image.fromarray(picture).save(path)


def _natural_pixels(page, image) -> np.ndarray:
    """The pixels of an <img> at its own size (the PNG the kernel sent), not as the page scales it."""
    image.scroll_into_view_if_needed()
    data_url = page.evaluate("""async element => { await element.decode();
        const canvas = document.createElement('canvas');
        canvas.width = element.naturalWidth; canvas.height = element.naturalHeight;
        canvas.getContext('2d').drawImage(element, 0, 0);
        return canvas.toDataURL('image/png'); }""", image.element_handle())
    import base64

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"),
                      dtype=np.int16)


def test_photo_upload_shows_the_prediction_over_the_photo(lab, page, tmp_path):
    from playwright.sync_api import expect

    from segedu.data.classes import CAMVID_PALETTE

    open_clean(lab, page, "00_segmentation_basics.ipynb")
    index = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets.findIndex(
        cell => cell.model.sharedModel.getSource().includes('photo_widget(PHOTO)'))""")
    assert index >= 0, "notebook 00 has no photo cell"
    page.evaluate("""index => { const notebook = window.jupyterapp.shell.currentWidget.content;
        notebook.activeCellIndex = index; window.jupyterapp.commands.execute('notebook:run-cell'); }""", index)
    output = output_of(page, "photo_widget(PHOTO)")
    image = output.locator(".widget-image")
    image.wait_for(timeout=120_000)  # the live widget replaces the stored picture
    message = output.locator(".widget-html")
    assert "Showing" in message.inner_text()
    before_source, before = image.get_attribute("src"), _natural_pixels(page, image)

    photo = tmp_path / "my street.png"
    _street_png(photo)
    with page.expect_file_chooser() as chooser:  # the widget's <input type=file> is not in the page: its button
        output.locator(".widget-upload").click()  # clicks it, and Playwright answers the file chooser it opens
    chooser.value.element.set_input_files(str(photo))
    page.wait_for_function("([element, source]) => element.src !== source",
                           arg=[image.element_handle(), before_source], timeout=60_000)
    # the kernel sends the picture and then the message, each in its own update: wait for both
    expect(message).to_contain_text("my street.png", timeout=30_000)
    after = _natural_pixels(page, image)
    assert after.shape == (360, 1000, 3)  # the figure: 10 x 3.6 inches at 100 dpi
    assert after.shape != before.shape or np.abs(after - before).mean() > 1.0
    # the left panel is the photo under the class colours: 0.45 x photo + 0.55 x a class colour (rounding and the
    # PNG's 256 colours allow a few levels); the green band of the photo shows through as a blend, not as itself
    photo_colours = np.array([(225, 230, 235), (40, 170, 60), (70, 70, 75)])
    blends = (0.45 * photo_colours[:, None] + 0.55 * np.array(CAMVID_PALETTE)[None]).reshape(-1, 3)
    panel = after[55:330, 10:380].reshape(-1, 3)  # inside the left panel of the 1000x360 figure
    distance = np.abs(panel[:, None, :] - blends[None]).max(-1).min(-1)
    assert (distance <= 12).mean() > 0.8, f"only {(distance <= 12).mean():.0%} of the left panel is a blend"
    assert (np.abs(panel - np.array((40, 170, 60))).max(-1) <= 12).mean() < 0.01  # no bare photo
    assert not page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count()


def test_no_kernel_outlives_its_test(lab, page):
    """The kernels of the tests before this one were shut down when each ended; only this test's is running."""
    open_clean(lab, page, "03_unpooling.ipynb")
    assert lab.shut_down_kernels() == 1
    assert lab.shut_down_kernels() == 0


def test_jupyterlab_interface_in_korean_for_the_korean_edition(lab, page):
    """`make lab` for the Korean edition writes JupyterLab's locale setting; with the language pack installed the
    interface itself (its menu bar) is Korean. The lab's own settings go back to English afterwards."""
    from segedu.course.lab_language import PLUGIN, write_lab_settings

    settings = lab.workspaces.parent  # the lab fixture's --LabApp.user_settings_dir
    write_lab_settings(settings, "ko")
    try:
        page.goto(f"{lab.url}/lab?token={lab.token}")
        labels = page.locator("#jp-MainMenu .lm-MenuBar-itemLabel")
        labels.first.wait_for()
        shown = labels.all_inner_texts()
        assert "설정" in shown and "도움말" in shown, shown  # Settings, Help
        assert "Settings" not in shown
    finally:
        (settings / PLUGIN).unlink()
