"""Measure the series per metric family and per line, and write the tables of
``docs/configuration.md`` (between the ``series-per-line`` markers) from the measurement.

One ``--once`` pass (``exporter.daemon.run_once``, every collector on) against the simulator's
default fleet (seed 0, its four default regions, no lifecycle, so the run is reproducible)
at 100 lines. Each family's row also says which shipped alerts and dashboards read it, from
the index ``scripts/family_usage.py`` writes.

    python scripts/series_per_line.py            # measure and rewrite the tables
    python scripts/series_per_line.py --check    # exit 1 if the tables differ from a new run
    python scripts/series_per_line.py --stdout   # print the tables

A test runs ``--check``: regenerate (and commit) after changing a family table or the
simulator's fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.collectors import COLLECTORS
from exporter.config import parse_config
from exporter.daemon import run_once
from exporter.metricfilter import collector_families, own_health_families, shipped_usage
from exporter.simulator import Simulator
from exporter.simulator.accounts import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- series-per-line: begin (scripts/series_per_line.py writes this block) -->"
END = "<!-- series-per-line: end -->"
LINES = 100
SEED = 0
_SUFFIXES = ("_bucket", "_sum", "_count")


async def _measure_body(lines: int, seed: int) -> bytes:
    sim = Simulator(seed=seed, connections=lines, lifecycle=False)
    async with sim.serve("127.0.0.1", 0) as url:
        config = parse_config(
            {
                "api": {
                    "endpoint": url,
                    "max_requests_per_second": 1000,
                    "cms_max_requests_per_second": 1000,
                },
                "accounts": [
                    {
                        "name": "sim",
                        "credentials": {
                            "type": "access_key",
                            "access_key_id": DEFAULT_ACCESS_KEY_ID,
                            "access_key_secret": DEFAULT_ACCESS_KEY_SECRET,
                        },
                        "regions": list(sim.regions),
                    }
                ],
            },
            "<series_per_line>",
        )
        body, ok = await run_once(config)
    if not ok:
        raise SystemExit("the --once pass against the simulator failed: nothing measured")
    return body


def count_series(body: bytes, families: Iterable[str]) -> Counter[str]:
    """Sample lines per family (histogram ``_bucket``/``_sum``/``_count`` count for theirs)."""
    known = set(families)
    counts: Counter[str] = Counter()
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in known:
            name = next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)), name)
        counts[name] += 1
    return counts


def state_set_zeros(body: bytes) -> int:
    """Sample lines at 0 of the collectors' state sets (the rows that say "not this state")."""
    state_sets = {
        family.name
        for collector in COLLECTORS
        for group in collector.records
        for family in group.families
        if family.kind == "stateset"
    }
    return sum(
        1
        for line in body.decode().splitlines()
        if line.split("{", 1)[0] in state_sets and line.endswith(" 0")
    )


@dataclass(frozen=True, slots=True)
class Measurement:
    """Series per family of one run, and how many of them are state-set rows at 0."""

    counts: Mapping[str, int]
    state_set_zeros: int


def measure(lines: int = LINES, seed: int = SEED) -> Measurement:
    body = asyncio.run(_measure_body(lines, seed))
    families = (*collector_families(COLLECTORS), *own_health_families())
    return Measurement(count_series(body, families), state_set_zeros(body))


def _per_line(series: int, lines: int) -> str:
    return f"{series / lines:.2f}"


def _readers(users: Iterable[str]) -> str:
    """``alert A``, ``dashboard 'T'`` entries of the index as ``alerts: A, B; dashboards: T``."""
    alerts = [user.removeprefix("alert ") for user in users if user.startswith("alert ")]
    boards = [user.removeprefix("dashboard ").strip("'") for user in users if user not in alerts
              and user.startswith("dashboard ")]  # fmt: skip
    parts = []
    if alerts:
        parts.append(f"alerts ({len(alerts)}): {', '.join(alerts)}")
    if boards:
        parts.append(f"dashboards: {', '.join(boards)}")
    return "; ".join(parts) or "nothing shipped"


def render(measured: Measurement, lines: int = LINES) -> str:
    """The two tables: per collector, then per family with what reads it."""
    counts = measured.counts
    usage = shipped_usage()
    own = sum(n for name, n in counts.items() if name in own_health_families())
    total = sum(counts.values())
    out = [
        BEGIN,
        "",
        f"Measured with `--once`, every collector on, against the simulator's default fleet "
        f"(`simulate --connections {lines} --seed {SEED} --no-lifecycle`: {lines} lines). "
        f"{total} series in all, {_per_line(total, lines)} per line; {measured.state_set_zeros} "
        f"of them ({100 * measured.state_set_zeros / total:.0f} %) are state-set rows at 0.",
        "",
        "| collector | families | series | per line |",
        "|---|---|---|---|",
    ]
    rows: list[str] = []
    for collector in COLLECTORS:
        names = collector_families([collector])
        series = sum(counts.get(name, 0) for name in names)
        out.append(f"| `{collector.name}` | {len(names)} | {series} | {_per_line(series, lines)} |")
        for name in names:
            n = counts.get(name, 0)
            readers = _readers(usage.get(name, ()))
            rows.append(
                f"| `{name}` | `{collector.name}` | {n} | {_per_line(n, lines)} | {readers} |"
            )
    out.append(f"| the exporter's own (always kept) | {len(own_health_families())} | {own} | "
               f"{_per_line(own, lines)} |")  # fmt: skip
    out += [
        "",
        "| family | collector | series | per line | read by (shipped alerts and dashboards) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        END,
    ]
    return "\n".join(out)


def replace_block(text: str, block: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block + text[end:]


def current_block(text: str) -> str:
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the tables are stale")
    mode.add_argument("--stdout", action="store_true", help="print the tables")
    args = parser.parse_args(argv)
    block = render(measure())
    if args.stdout:
        print(block)
        return 0
    text = DOC.read_text(encoding="utf-8")
    if args.check:
        if current_block(text) != block:
            print("docs/configuration.md: series per line are stale: run "
                  "python scripts/series_per_line.py")  # fmt: skip
            return 1
        return 0
    DOC.write_text(replace_block(text, block), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
