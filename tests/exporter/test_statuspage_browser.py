"""The status page in a real browser: Debian's headless Chromium loads ``/`` of an exporter that
reads the simulator, with one region whose every call is refused (``Forbidden.RAM``) and one
locked line in the other, and the test reads the DOM Chromium rendered (``--dump-dom``: after
the page's script ran): failures first and marked, what they mean, the line counts, and the
reader's local time next to UTC. Chromium is part of the README's test command: missing, the
test fails, it never skips."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from exporter.app import Exporter
from exporter.collectors import physical_connections as pc
from exporter.collectors import virtual_border_routers as vbr
from exporter.config import Config, parse_config
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.accounts import Account

pytestmark = pytest.mark.e2e

ACCOUNT = Account(name="alpha", access_key_id="ak-alpha", access_key_secret="sk-alpha-secret")
SERVED, REFUSED = "cn-hangzhou", "cn-shanghai"
FAILSAFE = 120.0  # seconds: bounds a hung exporter or browser, never what is measured


@dataclass
class Cell:
    classes: set[str]
    text: str = ""


@dataclass
class Dom(HTMLParser):
    """Rows of the two tables (their attributes and cell texts) and the local-time spans."""

    passes: list[tuple[dict[str, str], list[Cell]]] = field(default_factory=list)
    problems: dict[str, list[Cell]] = field(default_factory=dict)
    local_times: list[str] = field(default_factory=list)
    _table: str = ""
    _cells: list[Cell] | None = None
    _local: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = a.get("id", "")
        elif tag == "tr" and "data-state" in a and self._table == "passes":
            self._cells = []
            self.passes.append((a, self._cells))
        elif tag == "tr" and "data-problem" in a and self._table == "problems":
            self._cells = self.problems.setdefault(a["data-problem"], [])
        elif tag in ("td", "th") and self._cells is not None:
            self._cells.append(Cell(set(a.get("class", "").split())))
        elif tag == "span" and "local" in a.get("class", "").split():
            self._local = True
            self.local_times.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._cells = None
        elif tag == "span":
            self._local = False

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1].text += data
        if self._local:
            self.local_times[-1] += data


def config(url: str) -> Config:
    return parse_config(
        {
            "web": {"listen_address": "127.0.0.1:0"},
            "api": {"endpoint": url, "max_requests_per_second": 200, "retries": 0},
            "accounts": [
                {
                    "name": ACCOUNT.name,
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": ACCOUNT.access_key_id,
                        "access_key_secret": ACCOUNT.access_key_secret,
                    },
                    "regions": [SERVED, REFUSED],
                }
            ],
        },
        "test",
    )


async def rendered_dom(url: str, profile: Path) -> str:
    """The DOM Chromium built from ``url`` (after its scripts), read in Asia/Shanghai time."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run the README's test command (apt-get chromium)")
    process = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",  # the tests run as root in CI; the page is our own, on loopback
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TZ": "Asia/Shanghai"},
    )
    out, err = await asyncio.wait_for(process.communicate(), FAILSAFE)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def test_chromium_renders_failures_first_with_meaning_and_line_counts(
    tmp_path: Path,
) -> None:
    simulator = Simulator(
        seed=11, connections=24, regions=[SERVED, REFUSED], accounts=[ACCOUNT], lifecycle=False
    )
    locked_id = simulator.select({"region": SERVED, "Status": "Enabled"})
    simulator.set_fields(locked_id, {"BusinessStatus": "FinancialLocked"})
    simulator.add_fault({"kind": "Forbidden.RAM", "region": REFUSED})
    with SimulatorThread(simulator) as url:
        exporter = Exporter(config(url))
        await exporter.start()
        try:
            deadline = time.monotonic() + FAILSAFE
            while not exporter.ready():
                assert time.monotonic() < deadline, "the exporter never became ready"
                await asyncio.sleep(0.05)
            statuses = exporter.region_statuses()
            rendered = await rendered_dom(exporter.url + "/", tmp_path / "profile")
            dom = Dom()
            dom.feed(rendered)
        finally:
            await exporter.stop()

    assert ACCOUNT.access_key_secret not in rendered and ACCOUNT.access_key_id not in rendered
    # Every row, failures first: each row of the refused region, marked in words and colour.
    states = [attrs["data-state"] for attrs, _ in dom.passes]
    assert len(states) == len(statuses)
    failing = [(a, cells) for a, cells in dom.passes if a["data-state"] == "failing"]
    assert states[: len(failing)] == ["failing"] * len(failing), states
    regions = {cells[2].text: cells for _, cells in failing}
    assert set(regions) == {REFUSED} and len(failing) == sum(
        s.region_id == REFUSED for s in statuses
    )
    for attrs, cells in failing:
        assert "failing" in attrs["class"].split() and cells[0].text.strip().endswith("FAILING")
    ok = [cells for a, cells in dom.passes if a["data-state"] == "ok"]
    assert {cells[2].text for cells in ok} == {SERVED}
    assert all(cells[0].text.strip().endswith("OK") for cells in ok)

    # What the failure means: the RAM action to grant, named for the action that was refused.
    by_collector = {cells[3].text: cells[-1].text for _, cells in failing}
    assert "grant the RAM action vpc:DescribePhysicalConnections" in by_collector[pc.NAME]
    assert "grant the RAM action vpc:DescribeVirtualBorderRouters" in by_collector[vbr.NAME]
    # failing since and data age: failing rows have a time and no data
    for _, cells in failing:
        assert "UTC" in cells[4].text and cells[6].text == "no data"

    # Lines by problem, counted from what is served: the locked line (and any other).
    expected_locked = sum(
        c["BusinessStatus"] in ("FinancialLocked", "SecurityLocked")
        for c in simulator.connections(region=SERVED)
    )
    assert expected_locked >= 1
    counts = {key: int(cells[1].text) for key, cells in dom.problems.items()}
    assert set(counts) == {"locked", "expiring", "bgp_down", "saturated"}
    assert counts["locked"] == expected_locked
    assert locked_id in dom.problems["locked"][2].text
    # and where nothing is served, a count says it cannot see
    for cells in dom.problems.values():
        assert f"Not known in {ACCOUNT.name}/{REFUSED}" in cells[2].text

    # The page's script gave each UTC time the reader's local time (Chromium ran in UTC+8).
    assert dom.local_times and all(t.endswith("local (UTC+08:00)") for t in dom.local_times)


def test_the_readme_test_command_installs_chromium() -> None:
    """On a fresh clone the README's command is all there is: it must bring the browser."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```$", readme, flags=re.S | re.M)
    installs = re.search(r"apt-get install -y ([^&]*)&&", blocks[1])
    assert installs and "chromium" in installs.group(1).split()
