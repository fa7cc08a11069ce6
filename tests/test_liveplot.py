"""LivePlot: one line per run in each panel, loss-only runs say so, and fit prints no epoch line beside it."""

import torch

from segedu import TrainConfig, fit, viz
from segedu.data import Shapes
from segedu.models import build_model


def _lines(axis):
    return {line.get_label(): list(line.get_ydata()) for line in axis.lines}


def test_several_runs_share_one_figure_with_labelled_axes():
    plot = viz.LivePlot("two models")
    plot.run("a")({"epoch": 1, "train_loss": 2.0, "val_miou": 0.25})
    plot.run("a")({"epoch": 2, "train_loss": 1.5, "val_miou": 0.5})
    plot({"epoch": 1, "train_loss": 3.0}, run="b")
    figure = plot.figure()
    loss_axis, metric_axis = figure.axes[:2]
    assert _lines(loss_axis) == {"a": [2.0, 1.5], "b": [3.0]}
    assert _lines(metric_axis) == {"a": [25.0, 50.0]}  # run b has no validation score: no line
    assert figure._suptitle.get_text() == "two models"
    for axis in (loss_axis, metric_axis):
        assert axis.get_xlabel() == "epoch" and axis.get_ylabel() and axis.get_title()
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["a", "b"]  # one legend names the runs
    assert [record["epoch"] for record in plot.records] == [1, 2, 1]


def test_a_run_without_validation_says_so():
    plot = viz.LivePlot(metric="val_accuracy", metric_label="validation accuracy (%)")
    plot({"epoch": 1, "train_loss": 1.0})
    loss_axis, metric_axis = plot.figure().axes
    assert not metric_axis.lines and "no validation data" in metric_axis.texts[0].get_text()
    assert loss_axis.get_legend() is not None and not plot.figure().legends
    assert metric_axis.get_ylabel() == "validation accuracy (%)"


def test_fit_feeds_the_plot_and_prints_no_epoch_line(capsys):
    torch.manual_seed(0)
    data = Shapes(size=32, length=8)
    plot = viz.LivePlot()
    fit(build_model("unet", num_classes=5, width=0.0625), data, data,
        TrainConfig(epochs=2, batch_size=4, progress=False), callbacks=[plot.run("unet")])
    assert [record["epoch"] for record in plot.runs["unet"]] == [1, 2]
    assert all(0 <= record["val_miou"] <= 1 for record in plot.runs["unet"])
    assert "epoch 1/2" not in capsys.readouterr().out
    fit(build_model("unet", num_classes=5, width=0.0625), data, None, TrainConfig(epochs=1, batch_size=4, progress=False))
    assert "epoch 1/1" in capsys.readouterr().out


def test_the_plot_is_shown_through_a_figure_formatter_where_the_kernel_has_one(monkeypatch):
    """In a kernel with a formatter for matplotlib figures (`segedu.course.figures` registers one that puts a figure's
    texts in the learner's language), the plot is displayed as its figure, and redrawn in place; without one, as the
    PNG of it."""
    from types import SimpleNamespace

    import IPython
    import IPython.display
    from IPython.core.formatters import PNGFormatter
    from matplotlib.figure import Figure

    for registered in (True, False):
        shown = []

        class Handle:
            def update(self, value):
                shown.append(("update", value))

        monkeypatch.setattr(IPython.display, "display",
                            lambda value, display_id: shown.append(("new", value)) or Handle())
        formatter = PNGFormatter()
        if registered:
            formatter.for_type(Figure, lambda figure: b"drawn")
        shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters={"image/png": formatter}))
        monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
        plot = viz.LivePlot("a run")
        plot({"epoch": 1, "train_loss": 1.0})
        plot({"epoch": 2, "train_loss": 0.5})
        assert [how for how, _ in shown] == ["new", "update"]
        kind = Figure if registered else IPython.display.Image
        assert all(isinstance(value, kind) for _, value in shown), (registered, shown)
