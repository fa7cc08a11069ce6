"""JupyterLab's own interface (menus, dialogs, the file browser) in the learner's language.

The Korean edition opens in a JupyterLab whose interface is Korean too: `make lab` with ``SEGEDU_LANG=ko`` (or a
Korean ``LANG``) starts JupyterLab with the course's own user-settings folder, in which this module writes the one
setting JupyterLab reads for its language (the ``locale`` of ``@jupyterlab/translation-extension:plugin``). The
translations are JupyterLab's own language pack, ``jupyterlab-language-pack-ko-KR`` from PyPI, installed with the
course; without it JupyterLab stays in English and says so in its log. A learner's other settings in that folder are
kept; the English edition keeps the learner's usual JupyterLab settings.

    python -m segedu.course.lab_language .jupyterlab-ko          # Korean (the default)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LOCALES = {"ko": "ko_KR", "en": "en"}
PLUGIN = Path("@jupyterlab") / "translation-extension" / "plugin.jupyterlab-settings"

__all__ = ["LOCALES", "PLUGIN", "write_lab_settings"]


def write_lab_settings(folder: Path, language: str = "ko") -> Path:
    """Set JupyterLab's interface language in the user-settings `folder` (created if missing); -> the settings file.
    Other keys of that file, if a learner changed them, are kept; a file that is not JSON is reported, not replaced."""
    if language not in LOCALES:
        raise ValueError(f"JupyterLab's interface language {language!r}: the course has {', '.join(LOCALES)}")
    path = Path(folder) / PLUGIN
    settings = {}
    if path.exists():
        try:
            settings = json.loads(path.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON ({error}); fix or delete it, then run this again") from error
    settings["locale"] = LOCALES[language]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.lab_language", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="JupyterLab's user-settings folder (--LabApp.user_settings_dir)")
    parser.add_argument("--language", default="ko", choices=sorted(LOCALES))
    args = parser.parse_args(argv)
    print(f"JupyterLab's interface language: {LOCALES[args.language]} ({write_lab_settings(args.folder, args.language)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
