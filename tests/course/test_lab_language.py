"""JupyterLab's interface language: the setting the Korean edition's `make lab` writes, and the language pack."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from segedu.course.lab_language import PLUGIN, main, write_lab_settings

ROOT = Path(__file__).resolve().parents[2]


def test_writes_the_locale_jupyterlab_reads_and_keeps_other_settings(tmp_path):
    path = write_lab_settings(tmp_path)
    assert path == tmp_path / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
    assert json.loads(path.read_text()) == {"locale": "ko_KR"}
    path.write_text(json.dumps({"locale": "en", "stringsPrefix": "!"}))  # a learner's own setting
    write_lab_settings(tmp_path, "ko")
    assert json.loads(path.read_text()) == {"locale": "ko_KR", "stringsPrefix": "!"}
    assert main([str(tmp_path), "--language", "en"]) == 0
    assert json.loads(path.read_text())["locale"] == "en"


def test_bad_settings_and_languages_are_named(tmp_path):
    (tmp_path / PLUGIN).parent.mkdir(parents=True)
    (tmp_path / PLUGIN).write_text("{not json")
    with pytest.raises(ValueError, match="plugin.jupyterlab-settings is not JSON"):
        write_lab_settings(tmp_path)
    assert (tmp_path / PLUGIN).read_text() == "{not json"  # nothing lost
    with pytest.raises(ValueError, match="'fr'"):
        write_lab_settings(tmp_path / "other", "fr")


def test_the_korean_language_pack_is_installed():
    translation_utils = pytest.importorskip("jupyterlab_server.translation_utils")
    packs, message = translation_utils.get_language_packs("en")
    assert "ko_KR" in packs, f"jupyterlab-language-pack-ko-KR is not installed (make install does): {message}"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("language,korean", [("ko", True), ("ko_KR.UTF-8", True), ("en", False)])
def test_make_lab_opens_the_edition_and_interface_of_the_language(language, korean):
    dry_run = subprocess.run(["make", "-n", "lab", f"SEGEDU_LANG={language}"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    lab = next(line for line in dry_run.splitlines() if "jupyter lab --notebook-dir" in line)
    assert ("--notebook-dir=notebooks/ko" in lab) == korean
    assert ("--LabApp.user_settings_dir=" in dry_run) == korean
    assert ("SEGEDU_LANG=ko " in lab) == korean  # the kernels' checks speak Korean too
    assert ("segedu.course.lab_language" in dry_run) == korean
