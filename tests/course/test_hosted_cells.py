"""`python -m segedu.course.hosted_cells`: every notebook opens with the Colab and Kaggle badges and the hosted
set-up cell, written once (a second run changes nothing), checked by `--check`, built into the Korean edition with
badges of its own, silent on a laptop and installing and fetching on a simulated Colab.

Run on copies of notebooks 07 (CamVid) and 09 (ISBI 2012) in a temporary folder, never on notebooks/ itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from segedu.course import hosted, translation
from segedu.course.hosted_cells import BADGES_ID, SETUP_ID, TAG, data_needed, is_hosted_cell, main
from segedu.data.download import SOURCES
from tests.course.test_hosted import RUNNING, REPOSITORY, colab, membranes, off_host, segedu_missing  # noqa: F401
from tests.test_download import server  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
COPIED = {"07_fcn.ipynb": ["camvid"], "09_unet_isbi.ipynb": ["isbi2012"]}  # notebook -> the data it reads


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    return "".join(cell["source"])


def setup_source(path: Path) -> str:
    return text(next(cell for cell in load(path)["cells"] if cell["id"] == SETUP_ID))


@pytest.fixture
def course(tmp_path):
    """tmp_path/notebooks with copies of notebooks 07 and 09 whose hosted cells are taken out (as before the command)."""
    root = tmp_path / "notebooks"
    root.mkdir()
    for name in COPIED:
        notebook = load(ROOT / "notebooks" / name)
        notebook["cells"] = [cell for cell in notebook["cells"] if not is_hosted_cell(cell)]
        (root / name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        assert not any(is_hosted_cell(cell) for cell in load(root / name)["cells"]), f"{name} has them already"
    return root


@pytest.fixture
def written(course):
    """The course folder after one run of the command."""
    assert main(["--root", str(course)]) == 0
    return course


def test_the_command_inserts_the_cells_once_and_check_fails_before_and_passes_after(course, capsys):
    before = {name: load(course / name) for name in COPIED}
    assert main(["--root", str(course), "--check"]) == 1
    said = capsys.readouterr().out
    assert all(f"notebooks/{name}: no hosted cells" in said for name in COPIED), said
    assert {name: load(course / name) for name in COPIED} == before, "--check changes nothing"

    assert main(["--root", str(course)]) == 0
    for name, data in COPIED.items():
        cells = load(course / name)["cells"]
        assert cells[0]["id"] == BADGES_ID and cells[0]["cell_type"] == "markdown"
        assert text(cells[0]) == hosted.badges(f"notebooks/{name}")
        first_code = next(index for index, cell in enumerate(cells) if cell["cell_type"] == "code")
        setup = cells[first_code]
        assert setup["id"] == SETUP_ID and setup["outputs"] == [] and setup["execution_count"] is None
        assert text(setup) == hosted.first_cell_source(name[:2], data, version=RUNNING)
        assert "segedu.profile()" in text(cells[first_code + 1]), "the lesson's own first code cell comes next"
        assert all(TAG in cell["metadata"]["tags"] for cell in (cells[0], setup))
        assert [cell for cell in cells if not is_hosted_cell(cell)] == before[name]["cells"], "nothing else changed"
    capsys.readouterr()

    first = {name: (course / name).read_bytes() for name in COPIED}
    assert main(["--root", str(course)]) == 0
    assert {name: (course / name).read_bytes() for name in COPIED} == first, "a second run changes nothing"
    assert capsys.readouterr().out == ""
    assert main(["--root", str(course), "--check"]) == 0


def test_check_names_each_notebook_whose_cells_are_stale(written, capsys):
    notebook = load(written / "09_unet_isbi.ipynb")
    setup = next(cell for cell in notebook["cells"] if cell["id"] == SETUP_ID)
    setup["source"] = [line.replace("['isbi2012']", "['camvid']") for line in setup["source"]]  # wrong data set
    (written / "09_unet_isbi.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    notebook = load(written / "07_fcn.ipynb")
    notebook["cells"].append(notebook["cells"].pop(0))  # the badges moved to the end
    (written / "07_fcn.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    capsys.readouterr()
    assert main(["--root", str(written), "--check"]) == 1
    said = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in said] == ["notebooks/07_fcn.ipynb", "notebooks/09_unet_isbi.ipynb"], said
    assert main(["--root", str(written)]) == 0 and main(["--root", str(written), "--check"]) == 0
    assert setup_source(written / "09_unet_isbi.ipynb").endswith("hosted.prepare(['isbi2012'], version="
                                                                 f"{RUNNING!r})\n")


def test_the_data_a_notebook_needs_is_what_its_code_chooses():
    cells = [{"cell_type": "code", "id": "a", "source": ['data = choose("isbi2012")  # or membranes\n']},
             {"cell_type": "markdown", "id": "b", "source": ['choose("camvid") in prose is not code']},
             {"cell_type": "code", "id": "c", "source": "build_dataset('camvid', 'train')\nchoose('cityscapes')"},
             {"cell_type": "code", "id": SETUP_ID, "source": "choose('nothing')\n"}]
    assert data_needed({"cells": cells}) == ["camvid", "isbi2012"]
    assert data_needed({"cells": cells[1:2]}) == []


def test_the_inserted_cell_does_nothing_locally(written, off_host, tmp_path, capsys):
    before = sorted(tmp_path.rglob("*"))
    for name in COPIED:
        namespace = {}
        exec(setup_source(written / name), namespace)
        assert namespace["hosted_setup"] == {"hosted": None}
    assert capsys.readouterr() == ("", "")
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"
    assert all(name not in os.environ for name in ("SEGEDU_DATA", "SEGEDU_PROFILE"))


@pytest.mark.slow
def test_the_inserted_cell_prints_nothing_in_a_fresh_python(written, tmp_path):
    """A new interpreter, as a local kernel runs it: importing segedu included, nothing on stdout or stderr."""
    script = tmp_path / "cell.py"
    script.write_text(setup_source(written / "09_unet_isbi.ipynb") + "assert hosted_setup == {'hosted': None}\n"
                      "import os\nassert 'SEGEDU_PROFILE' not in os.environ and 'SEGEDU_DATA' not in os.environ\n")
    unset = {name for variables in hosted.HOST_VARIABLES.values() for name in variables} | {
        "SEGEDU_DATA", "SEGEDU_PROFILE", "SEGEDU_WHEEL"}
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cell.py", "notebooks"]


def test_under_colab_the_inserted_cell_installs_and_fetches_its_data(written, colab, segedu_missing, server,
                                                                    tmp_path):
    source = membranes(tmp_path, server[1])
    colab.setitem(SOURCES, "isbi2012", source)
    namespace = {}
    exec(setup_source(written / "09_unet_isbi.ipynb"), namespace)
    assert segedu_missing == [[sys.executable, "-m", "pip", "install", "-q",
                               f"segedu[pretrained] @ git+{REPOSITORY}@v{RUNNING}"]]
    result = namespace["hosted_setup"]
    assert result["hosted"] == "colab" and result["profile"] == "fast" and os.environ["SEGEDU_PROFILE"] == "fast"
    assert result["data"] == {"isbi2012": "downloaded"} and (tmp_path / "datasets" / "isbi2012").is_dir()


def translated(root: Path, name: str) -> None:
    """A stand-in Korean catalog for `name`: every entry "translated" as "[ko] " + the English."""
    po = root / "locale" / "ko" / name.replace(".ipynb", ".po")
    catalog = translation.update_catalog(root / name, po)
    for entry in catalog:
        entry.msgstr = "[ko] " + entry.msgid
    catalog.save()


def test_the_korean_edition_gets_badges_of_its_own_and_needs_no_catalog_entry(written, capsys):
    name = "07_fcn.ipynb"
    translated(written, name)
    contexts = [entry.msgctxt for entry in polib.pofile(str(written / "locale" / "ko" / "07_fcn.po"))]
    assert f"07_fcn:{BADGES_ID}" not in contexts and "07_fcn:c00" in contexts
    ((target, _),) = translation.build(written, names=["07"]).items()
    english, korean = load(written / name), load(target)
    assert text(korean["cells"][0]) == hosted.badges(f"notebooks/ko/{name}") != text(english["cells"][0])
    assert text(korean["cells"][1]).startswith("[ko] # 07")
    assert [cell for cell in korean["cells"] if cell["id"] == SETUP_ID] == [
        cell for cell in english["cells"] if cell["id"] == SETUP_ID], "the set-up cell is the same code"
    capsys.readouterr()
    assert main(["--root", str(written), "--check", "--only", "07"]) == 0, capsys.readouterr().out

    stale = load(target)
    del stale["cells"][0]  # a Korean notebook built before the English had its badges
    target.write_text(json.dumps(stale, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["--root", str(written), "--check", "--only", "07"]) == 1
    assert "notebooks/ko/07_fcn.ipynb: no hosted-badges cell" in capsys.readouterr().out


def test_the_readme_first_screen_shows_the_badges_of_notebook_00():
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30])
    assert hosted.badges("notebooks/00_segmentation_basics.ipynb") in first_screen
    assert "not measured" in first_screen and "CPU" in first_screen


def test_the_committed_notebooks_open_with_their_hosted_cells(capsys):
    """Every committed notebook (and its Korean edition) carries the badges and the first cell that the command
    writes for its data and the running version: a notebook edited by hand, or a version bump, fails here."""
    assert main(["--check"]) == 0, capsys.readouterr().out
