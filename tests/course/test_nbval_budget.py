"""The notebooks' seconds under nbval, summed per notebook and printed against the 90 s budget at the end of a run
(segedu.course.nbval_budget)."""

from types import SimpleNamespace

from segedu.course import nbval_budget


def test_each_notebooks_setup_call_and_teardown_are_summed_and_other_tests_left_out(monkeypatch):
    monkeypatch.setattr(nbval_budget, "_seconds", nbval_budget.defaultdict(float))
    for nodeid, seconds in (("notebooks/07_fcn.ipynb::Cell 0", 4.0),   # setup: the kernel starts
                            ("notebooks/07_fcn.ipynb::Cell 0", 1.5),   # call
                            ("notebooks/07_fcn.ipynb::Cell 1", 30.25),
                            ("notebooks/ko/07_fcn.ipynb::Cell 0", 2.0),
                            ("tests/test_losses.py::test_dice", 100.0)):
        nbval_budget.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=seconds))
    assert dict(nbval_budget._seconds) == {"notebooks/07_fcn.ipynb": 35.75, "notebooks/ko/07_fcn.ipynb": 2.0}


def test_the_summary_lists_every_notebook_and_names_those_over_the_budget():
    lines = nbval_budget.summary({"notebooks/09_unet_isbi.ipynb": 92.4, "notebooks/00_segmentation_basics.ipynb": 45.0,
                                  "notebooks/11_transfer_learning.ipynb": 90.0})
    assert lines[1:4] == ["  notebooks/00_segmentation_basics.ipynb: 45 s",
                          "  notebooks/09_unet_isbi.ipynb: 92 s  (over the budget)",
                          "  notebooks/11_transfer_learning.ipynb: 90 s"]  # at the budget is within it
    assert lines[-1] == "1 of 3 over 90 s: notebooks/09_unet_isbi.ipynb; 227 s in all"
    assert nbval_budget.summary({}) == []  # a run without notebooks prints nothing


def test_the_plugin_is_on_for_every_pytest_run(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("segedu.course.nbval_budget")
