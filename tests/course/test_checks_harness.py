"""segedu.course.checks.compare: a wrong answer gets a specific message, never a bare assert or a crash."""

import pytest
import torch

from segedu.course.checks import ExerciseFailed, compare

CASES = [("a 2x3 input", (torch.arange(6.0).view(2, 3),), {})]


def reference(x):
    return x * 2


@pytest.mark.parametrize("answer,message", [
    (lambda x: x * 2, None),
    (lambda x: (x * 2).T, r"expected shape \(2, 3\), got \(3, 2\)"),
    (lambda x: (x * 2).double(), "expected dtype torch.float32, got torch.float64"),
    (lambda x: (x * 2).tolist(), "expected a torch.Tensor, got list"),
    (lambda x: x * 2 + (x == 4), r"1 of 6 values differ; first at index \(1, 1\): expected 8, got 9"),
    (lambda x: x[5], r"raised IndexError: .*\n  at your line \d+: \(lambda x: x\[5\]"),
    (lambda x: (_ for _ in ()).throw(NotImplementedError()), "not implemented yet"),
])
def test_compare_names_what_is_wrong(answer, message, capsys):
    if message is None:
        compare("double", answer, reference, CASES)
        assert "✓ double matches the reference on 1 case\n" in capsys.readouterr().out
        return
    with pytest.raises(ExerciseFailed, match=message) as caught:
        compare("double", answer, reference, CASES, hint="multiply by two")
    assert "Hint: multiply by two" in str(caught.value)


def test_numbers_tuples_and_non_functions():
    with pytest.raises(ExerciseFailed, match="expected 7, got 6"):
        compare("size", lambda: 6, lambda: 7, [("", (), {})])
    with pytest.raises(ExerciseFailed, match="expected a number, got str"):
        compare("size", lambda: "7", lambda: 7, [("", (), {})])
    with pytest.raises(ExerciseFailed, match="expected a tuple of 2 values"):
        compare("pair", lambda: torch.zeros(1), lambda: (torch.zeros(1), torch.zeros(1)), [("", (), {})])
    with pytest.raises(ExerciseFailed, match="expected a function, got int"):
        compare("f", 3, reference, CASES)


def test_a_function_that_changes_its_input_is_refused_and_the_checkers_inputs_stay_intact():
    def in_place(x):
        x.mul_(2)
        return x

    with pytest.raises(ExerciseFailed, match=r"changed its input \(argument 1\) in place"):
        compare("in place", in_place, reference, CASES)  # right values, but the caller's tensor would be doubled
    assert torch.equal(CASES[0][1][0], torch.arange(6.0).view(2, 3))  # it worked on a copy all the same


def test_an_error_inside_the_segedu_library_quotes_the_learners_own_line():
    """Not the line of segedu that raised it: the whole package, not only the course, is the checker's side."""
    from segedu.metrics import ConfusionMatrix

    def confusion(predictions, targets):
        return ConfusionMatrix(3).update(predictions, targets[0]).matrix  # the shapes differ: segedu raises

    labels = torch.zeros(2, 4, 5, dtype=torch.int64)
    with pytest.raises(ExerciseFailed) as caught:
        compare("confusion", confusion, lambda p, t: ConfusionMatrix(3).update(p, t).matrix,
                [("2x4x5", (labels, labels), {})])
    message = str(caught.value)
    assert "at your line" in message and "ConfusionMatrix(3).update(predictions, targets[0])" in message, message
    assert message.endswith("(the error itself came from segedu/)"), message


def test_jupyter_shows_the_message_without_the_checker_stack():
    lines = ExerciseFailed("first line\nHint: second")._render_traceback_()
    assert "first line" in lines[0] and lines[1] == "Hint: second"


def test_running_the_untouched_stub_shows_the_first_hint_without_using_it_up():
    from segedu.course import checks

    def stub(x):
        raise NotImplementedError

    checks._FAILURES.pop("triple", None)
    hints = ("the first hint", "the second hint")
    for _ in range(2):  # the stub, checked twice: the first hint both times
        with pytest.raises(ExerciseFailed, match="not implemented yet(.|\n)*the first hint"):
            compare("triple", stub, reference, CASES, hint=hints)
    with pytest.raises(ExerciseFailed, match="the first hint"):  # the first wrong answer still gets hint 1
        compare("triple", lambda x: x, reference, CASES, hint=hints)
    with pytest.raises(ExerciseFailed, match="the second hint"):
        compare("triple", lambda x: x, reference, CASES, hint=hints)
    checks._FAILURES.pop("triple", None)


def test_an_error_outside_the_learners_code_is_not_called_their_line():
    """The check's own call fails (a keyword the function lacks): no frame of the learner's to quote."""
    def renamed(y):
        return y * 2

    with pytest.raises(ExerciseFailed) as caught:
        compare("double", renamed, reference, [("a keyword", (), {"x": torch.ones(2)})])
    message = str(caught.value)
    assert "raised TypeError" in message and "your line" not in message
    assert "the check calling your function, or using what it returned" in message
