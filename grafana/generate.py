"""Generate the ExpressConnect Grafana dashboards with grafana-foundation-sdk.

The JSON under ``grafana/dashboards/`` is committed so that provisioning needs no build step;
this script writes it from the dashboards' sources in ``grafana/dashboards_src/`` (one module per
dashboard, listed in that package's ``DASHBOARDS``). Run ``python grafana/generate.py`` after
editing and commit the result (``--check`` exits 1 when the committed files are stale; a test
does the same).

Every query uses the ``$datasource`` variable, and every metric name comes from the exporter's own
constants (the modules that define the families), so the dashboards work with any Prometheus that
scrapes the exporter and cannot drift from what it serves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from grafana.dashboards_src import DASHBOARDS
from grafana.dashboards_src.board import Board, nav_links

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"


def render(board: Board) -> str:
    """Build with the link bar, number the panels in order (stable ids) and serialise
    deterministically."""
    built = board.build().links(nav_links(DASHBOARDS)).build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def generate() -> dict[str, str]:
    """File name → JSON text for every dashboard."""
    return {board.file: render(board) for board in DASHBOARDS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON is stale"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR, help="output directory")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate().items():
        path = args.out / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"stale dashboards (run python grafana/generate.py): {', '.join(stale)}")
        return 1
    for name in stale:
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
