"""segedu.viz: the class legend's two placements, checked on the drawn figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from segedu import viz  # noqa: E402

NAMES, PALETTE = ["sky", "cell", "road"], [(128, 128, 128), (255, 255, 255), (128, 64, 128)]


def _drawn(figure):
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def test_a_figure_legend_sits_below_every_panel_in_one_row_of_up_to_six():
    figure, axes = plt.subplots(2, 2, figsize=(6, 5), layout="constrained")
    viz.class_legend(figure, NAMES, PALETTE)
    renderer = _drawn(figure)
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    assert all(box.y1 <= axis.get_window_extent(renderer).y0 for axis in axes.flat)  # below the lowest panels
    assert [text.get_text() for text in legend.get_texts()] == NAMES
    rows = {round(text.get_window_extent(renderer).y0) for text in legend.get_texts()}
    assert len(rows) == 1  # three names: one row
    plt.close(figure)


def test_an_axis_legend_sits_to_the_right_of_its_axis():
    figure, axis = plt.subplots(figsize=(5, 3), layout="constrained")
    viz.class_legend(axis, NAMES, PALETTE)
    renderer = _drawn(figure)
    assert axis.get_legend().get_window_extent(renderer).x0 >= axis.get_window_extent(renderer).x1
    assert not figure.legends
    plt.close(figure)


def test_a_legend_for_labels_names_the_colour_of_their_void_pixels():
    figure, axis = plt.subplots()
    viz.class_legend(axis, NAMES, PALETTE, void=True)
    legend = axis.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == NAMES + ["void (not scored)"]
    drawn = viz.colorize(torch.tensor([[255]]), PALETTE)[0, 0] / 255  # what a void pixel looks like in a picture
    assert tuple(legend.get_patches()[-1].get_facecolor()[:3]) == tuple(drawn)
    plt.close(figure)


def test_a_white_class_has_an_edge_that_shows_on_the_white_page():
    figure, axis = plt.subplots()
    viz.class_legend(axis, NAMES, PALETTE)
    white = axis.get_legend().get_patches()[1]
    assert tuple(white.get_facecolor()[:3]) == (1.0, 1.0, 1.0)
    edge = white.get_edgecolor()
    assert edge[3] > 0 and tuple(edge[:3]) != (1.0, 1.0, 1.0) and white.get_linewidth() > 0
    plt.close(figure)
