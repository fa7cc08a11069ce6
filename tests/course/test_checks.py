"""The exercise checks of segedu.course.checks reject typical mistakes with a hint; the package exports every name
the notebooks use, and a TIME_LIMIT set on it reaches the harness."""

import re
from pathlib import Path

import pytest

from segedu.course import checks
from segedu.course.checks import ExerciseFailed


@pytest.mark.parametrize("check,wrong", [
    (checks.check_pixel_accuracy, lambda p, t, ignore_index=255: (p == t).double().mean().item()),  # ignores nothing
    (checks.check_mean_iou, lambda m: float(m.diagonal().sum() / m.sum())),                          # pixel accuracy
    (checks.check_transposed_output_size, lambda s, k, st, p, op: s * st),
    (checks.check_receptive_field, lambda k, s, d: 1 + sum(d_ * (k_ - 1) for k_, d_ in zip(k, d))),  # forgets strides
    (checks.check_center_crop, lambda f, size: f[..., : size[0], : size[1]]),                        # top-left crop
])
def test_checks_reject_typical_mistakes(check, wrong):
    with pytest.raises(ExerciseFailed, match="Hint"):
        check(wrong)


def test_a_time_limit_set_on_the_package_reaches_every_check(monkeypatch):
    """`checks.TIME_LIMIT = ...` in a notebook sets the limit the harness uses, as when the checks were one module."""
    monkeypatch.setattr(checks, "TIME_LIMIT", 0.25)
    assert checks.harness.TIME_LIMIT == 0.25

    def spins(kernel_sizes, strides, dilations):
        while True:
            pass

    with pytest.raises(ExerciseFailed, match=r"did not return within 0.25 s"):
        checks.check_receptive_field(spins)


def test_every_name_a_notebook_uses_is_exported():
    """The notebooks call `checks.<name>` on the package: every such name is in its __all__."""
    notebooks = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    used = {name for path in notebooks for name in re.findall(r"\bchecks\.(\w+)", path.read_text())}
    assert len(used) > 20 and used <= set(checks.__all__), sorted(used - set(checks.__all__))
    assert all(getattr(checks, name) is not None for name in checks.__all__)
