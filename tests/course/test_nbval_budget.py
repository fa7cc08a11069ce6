"""The notebooks' seconds under nbval, summed per notebook and printed beside the 90 s budget at the end of a run
(segedu.course.nbval_budget)."""

import pytest

from segedu.course import nbval_budget


def _report(nodeid: str, when: str, seconds: float, outcome: str = "passed") -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("notebook", 0, nodeid), {}, outcome, None, when, duration=seconds)


def test_each_notebooks_setup_and_call_are_summed_its_teardowns_and_other_tests_left_out():
    times = {"seconds": nbval_budget.defaultdict(float), "failed": set()}
    counter = nbval_budget._Counter(times)
    for report in (_report("notebooks/07_fcn.ipynb::Cell 0", "setup", 4.0),  # the kernel starts
                   _report("notebooks/07_fcn.ipynb::Cell 0", "call", 1.5),
                   _report("notebooks/07_fcn.ipynb::Cell 0", "teardown", 0.01),
                   _report("notebooks/07_fcn.ipynb::Cell 1", "call", 30.25),
                   _report("notebooks/07_fcn.ipynb::Cell 1", "teardown", 20.0),  # the session's fixtures close
                   _report("notebooks/ko/07_fcn.ipynb::Cell 0", "call", 2.0, "failed"),
                   _report("tests/test_losses.py::test_dice", "call", 100.0, "failed")):
        counter.pytest_runtest_logreport(report)
    assert dict(times["seconds"]) == {"notebooks/07_fcn.ipynb": 35.75, "notebooks/ko/07_fcn.ipynb": 2.0}
    assert times["failed"] == {"notebooks/ko/07_fcn.ipynb"}


def test_the_summary_lists_every_notebook_and_names_those_over_the_budget():
    seconds = {"notebooks/09_unet_isbi.ipynb": 92.4, "notebooks/00_segmentation_basics.ipynb": 45.0,
               "notebooks/11_transfer_learning.ipynb": 90.4, "notebooks/12_model_zoo.ipynb": 12.0}
    lines = nbval_budget.summary(seconds, failed={"notebooks/12_model_zoo.ipynb"}, threads="2")
    assert lines == ["  notebooks/00_segmentation_basics.ipynb: 45 s",
                     "  notebooks/09_unet_isbi.ipynb: 92 s  (over the budget)",
                     "  notebooks/11_transfer_learning.ipynb: 90 s",  # shown as 90: within it
                     "  notebooks/12_model_zoo.ipynb: 12 s  (a cell failed: incomplete)",
                     "1 of 4 over the budget: notebooks/09_unet_isbi.ipynb; 240 s summed over the notebooks"]
    assert nbval_budget.summary({}) == []  # a run without notebooks prints nothing


def test_a_run_under_other_conditions_says_so_and_does_not_call_90_s_the_budget():
    seconds = {"notebooks/09_unet_isbi.ipynb": 120.0}
    for at_once, threads, said in ((2, "1", "2 notebooks at once, 1 thread each"),
                                   (1, "1", "one notebook at a time, 1 thread each"),
                                   (2, "all", "2 notebooks at once, all threads each")):
        lines = nbval_budget.summary(seconds, at_once=at_once, threads=threads)
        assert lines[0] == f"(not the budget's conditions: {said})"
        assert lines[1] == "  notebooks/09_unet_isbi.ipynb: 120 s  (over 90 s)"
        assert not any("budget:" in line or "over the budget" in line for line in lines)


def test_the_plugin_is_on_for_every_pytest_run(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("segedu.course.nbval_budget")
