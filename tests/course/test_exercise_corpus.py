"""The checks catch the mistakes learners make: every wrong solution of the corpus fails its check with an
ExerciseFailed message; a function that changes its input, never returns, or fails inside torch gets a message that
says so; hints say more on each repeated failure without pasting the answer."""

from __future__ import annotations

import re

import nbformat
import pytest
import torch

from segedu.course import checks

from .exercise_corpus import CORPUS
from .test_exercises import EXERCISES

WRONG = [(name, wrong) for name, (_, solutions) in CORPUS.items() for wrong in solutions]


@pytest.mark.parametrize("name,wrong", WRONG, ids=[f"{name[6:]}-{wrong.__name__}" for name, wrong in WRONG])
def test_every_wrong_solution_is_caught(name, wrong, capsys):
    check = CORPUS[name][0]
    with pytest.raises(checks.ExerciseFailed) as failed:
        check(wrong)
    assert "✓" not in capsys.readouterr().out
    assert str(failed.value).strip()


def test_every_exercise_has_at_least_three_wrong_solutions_in_the_corpus():
    called = set()
    for path, index in EXERCISES:
        source = nbformat.read(path, as_version=4).cells[index + 1].source
        called |= set(re.findall(r"checks\.(check_\w+)", source))
    called.discard("check_concept")  # concept checks: every wrong choice is tried below
    assert called <= set(CORPUS), sorted(called - set(CORPUS))
    assert all(len(solutions) >= 3 for _, solutions in CORPUS.values())


def test_a_function_that_changes_its_input_is_refused_with_the_argument_named():
    from .exercise_corpus import pixel_accuracy_changes_its_input, receptive_field_empties_its_lists

    with pytest.raises(checks.ExerciseFailed, match=r"changed its input \(argument 2\) in place"):
        checks.check_pixel_accuracy(pixel_accuracy_changes_its_input)
    with pytest.raises(checks.ExerciseFailed, match=r"changed its input \(argument 1\) in place"):
        checks.check_receptive_field(receptive_field_empties_its_lists)


def test_a_function_that_never_returns_is_stopped_with_a_message(monkeypatch):
    monkeypatch.setattr(checks, "TIME_LIMIT", 0.5)

    def spins(kernel_sizes, strides, dilations):
        field = 1
        while field > 0:
            try:
                field += 1
            except Exception:  # a learner's catch-all must not swallow the time limit
                pass
        return field

    with pytest.raises(checks.ExerciseFailed, match=r"did not return within 0.5 s"):
        checks.check_receptive_field(spins)


def test_an_error_inside_torch_quotes_the_learners_own_line():
    def pointwise_conv(input, weight, bias):
        mixed = torch.einsum("nchw,oc->nohw", input, weight)
        return mixed + bias.view(1, 1, -1)  # broadcasting fails inside torch

    with pytest.raises(checks.ExerciseFailed) as failed:
        checks.check_pointwise_conv(pointwise_conv)
    message = str(failed.value)
    assert "raised RuntimeError" in message and "your line" in message
    assert "return mixed + bias.view(1, 1, -1)" in message


def test_hints_say_more_on_each_failure_and_start_over_after_a_success():
    from .exercise_corpus import center_crop_top_left

    checks._FAILURES.pop("center_crop", None)
    messages = []
    for _ in range(3):
        with pytest.raises(checks.ExerciseFailed) as failed:
            checks.check_center_crop(center_crop_top_left)
        messages.append(str(failed.value).split("Hint: ")[1])
    assert "hint 1 of 2" in messages[0] and "hint" not in messages[1].split("]")[-1]
    assert messages[0] != messages[1] and messages[1] == messages[2]  # the last hint repeats

    def center_crop(features, size):
        top, left = (features.shape[-2] - size[0]) // 2, (features.shape[-1] - size[1]) // 2
        return features[..., top:top + size[0], left:left + size[1]]

    checks.check_center_crop(center_crop)
    with pytest.raises(checks.ExerciseFailed, match="hint 1 of 2"):
        checks.check_center_crop(center_crop_top_left)


def test_no_hint_pastes_the_answer():
    """The hints name the idea and the tools, never the finished expression the old hints gave away."""
    import importlib
    import inspect
    import pkgutil

    source = "".join(inspect.getsource(importlib.import_module(f"{checks.__name__}.{module.name}"))
                     for module in pkgutil.iter_modules(checks.__path__))  # every module of the checks package
    for giveaway in ("torch.einsum('nchw,oc->nohw'", "weight.flip(-2, -1).transpose(0, 1)", "minlength=K*K).view",
                     "r += d * (k - 1) * jump", "correct = (predictions == targets) & labelled",
                     "zeros (N, C, H * W), write with Tensor.scatter", "(y*s + i - p, x*s + j - p)",
                     "1 - |x - centre| / factor", "padding factor // 2", "reduction='none', ignore_index=255"):
        assert giveaway not in source, giveaway


CONCEPT_CELLS = [(path, index) for path, index in EXERCISES
                 if "check_concept" in nbformat.read(path, as_version=4).cells[index + 1].source]


def test_every_notebook_has_a_concept_check_and_every_concept_is_asked():
    from .test_exercises import NOTEBOOKS

    asked = {}
    for path, index in CONCEPT_CELLS:
        notebook = nbformat.read(path, as_version=4)
        name = re.search(r'check_concept\("(\w+)"', notebook.cells[index + 1].source).group(1)
        asked[name] = path.name
        question = notebook.cells[index - 1].source  # the markdown above lists exactly the registry's choices
        concept = checks.CONCEPTS[name]
        if isinstance(concept.answer, str):
            assert sorted(re.findall(r"\(([a-z])\) ", question)) == sorted(concept.explanations), (path.name, name)
    assert {path.name for path in NOTEBOOKS} == set(asked.values())
    assert set(asked) == set(checks.CONCEPTS)


@pytest.mark.parametrize("name", sorted(checks.CONCEPTS))
def test_every_wrong_answer_of_a_concept_check_is_refused_with_its_explanation(name, capsys):
    concept = checks.CONCEPTS[name]
    if isinstance(concept.answer, str):
        wrong = [letter for letter in concept.explanations if letter != concept.answer]
        right = concept.answer
        for letter in wrong:
            with pytest.raises(checks.ExerciseFailed, match=re.escape(concept.explanations[letter][:40])):
                checks.check_concept(name, lambda letter=letter: letter)
        assert len(wrong) >= 3
    else:
        truth = concept.answer()
        right = round(truth)
        for number in (truth / 2, truth * 2, truth + 3 + concept.tolerance, 0):
            with pytest.raises(checks.ExerciseFailed, match="not "):
                checks.check_concept(name, lambda number=number: number)
    for nonsense in ("z", None, [right]):
        with pytest.raises(checks.ExerciseFailed, match="answer with"):
            checks.check_concept(name, lambda nonsense=nonsense: nonsense)
    checks.check_concept(name, lambda: right)
    assert "✓" in capsys.readouterr().out


def test_transfer_learning_checks_name_the_mistake_in_the_learners_terms():
    """Not the checker's internals ("element 1", "got nan"): what the list or the groups get wrong."""
    from .exercise_corpus import (groups_give_the_encoder_twice, groups_slow_down_the_decoder,
                                  trainable_forgets_to_freeze, trainable_returns_everything)

    def without_a_rate(model, lr, encoder_factor):  # relies on the optimizer's default rate
        encoder = {id(p) for p in model.encoder.parameters()}
        return [{"params": [p for p in model.parameters() if id(p) in encoder], "lr": lr * encoder_factor},
                {"params": [p for p in model.parameters() if id(p) not in encoder]}]

    def encoder_only(model, lr, encoder_factor):
        return [{"params": list(model.encoder.parameters()), "lr": lr * encoder_factor}]

    for wrong, words in [(trainable_returns_everything, "encoder's parameters stay out of the optimizer"),
                         (trainable_forgets_to_freeze, "still have requires_grad=True"),
                         (groups_give_the_encoder_twice, "are in two groups"),
                         (groups_slow_down_the_decoder,
                          "of the encoder's parameters get the rate 0.01, not lr * encoder_factor = 0.001"),
                         (without_a_rate, "group 1 has no 'lr'"), (encoder_only, "are in no group")]:
        check = checks.check_trainable_parameters if wrong.__name__.startswith("trainable") \
            else checks.check_discriminative_groups
        with pytest.raises(checks.ExerciseFailed, match=re.escape(words)) as failed:
            check(wrong)
        assert "element" not in str(failed.value) and "nan" not in str(failed.value)


def test_a_korean_learner_reads_the_failing_case_in_korean(monkeypatch):
    """The case a check names is said in the learner's language, not only the message around it."""
    from .exercise_corpus import mean_iou_drops_classes_absent_from_truth

    monkeypatch.setenv("SEGEDU_LANG", "ko")  # what set_language("ko") sets for the messages; restored afterwards
    with pytest.raises(checks.ExerciseFailed) as failed:  # right on every case but the class never true
        checks.check_mean_iou(mean_iou_drops_classes_absent_from_truth)
    assert "클래스 2가 세 번 예측되었지만 정답에는 없음" in str(failed.value)
