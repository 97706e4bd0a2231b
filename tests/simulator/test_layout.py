"""The simulator README's "Code layout" table names every module of the package, and only
modules that exist: a module added, moved or removed without the table fails here."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "exporter" / "simulator"


def _layout_section() -> str:
    text = (PACKAGE / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Code layout\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_layout_table_names_every_module() -> None:
    rows = [line for line in _layout_section().splitlines() if line.startswith("|")]
    named = set(re.findall(r"`([\w/]+\.py)`", "\n".join(rows)))
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert "vbr/methods.py" in modules
    assert sorted(modules - named) == [], "modules the layout table does not name"
    assert sorted(named - modules) == [], "the layout table names modules that do not exist"
