"""The state file under damage and churn: deep JSON, crash leftovers, pruning, other kinds."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter import state_file as state_module
from exporter.state_file import StateStore


@dataclass(frozen=True)
class Thing:
    """Any object with an ID and a status (a VBR, a BGP peer): no physical-connection type."""

    id: str
    status: str


def test_deeply_nested_json_is_logged_and_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    store = StateStore(path)
    with caplog.at_level(logging.WARNING, logger="exporter.state_file"):
        store.load()
    assert store.get("a", "r") == {}
    assert [r.getMessage() for r in caplog.records] == ["state file unreadable, starting fresh"]


async def test_crash_leftovers_are_removed_at_load(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 1.0)
    await store.save()
    leftover = tmp_path / ".state.json.abc123.tmp"
    leftover.write_bytes(b'{"half')
    unrelated = [tmp_path / ".other.json.x.tmp", tmp_path / "state.json.bak"]
    for other in unrelated:
        other.write_text("keep")
    again = StateStore(path)
    again.load()
    assert not leftover.exists()
    assert all(other.exists() for other in unrelated)
    assert set(again.get("a", "r")) == {"pc-1"}


async def test_the_directory_is_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = state_module._fsync_directory

    def record(directory: Path) -> None:
        assert (directory / "state.json").exists()  # after the rename
        synced.append(directory)
        real(directory)

    monkeypatch.setattr(state_module, "_fsync_directory", record)
    store = StateStore(tmp_path / "state.json")
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 1.0)
    await store.save()
    assert synced == [tmp_path]


async def test_churn_does_not_grow_the_file_forever(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    sizes = []
    for hour in range(48):
        now = hour * 3600.0
        # each hour a fresh set of lines: every earlier one is gone
        store.observe("a", "r", [Thing(f"pc-{hour}-{n}", "Enabled") for n in range(50)], now)
        await store.save()
        sizes.append(os.path.getsize(path))
    assert len(store.get("a", "r")) <= 100
    assert sizes[-1] <= sizes[5] * 1.1


def test_a_line_missing_from_a_complete_pass_is_forgotten() -> None:
    """A complete pass is the truth: the file never grows with every line ever seen."""
    store = StateStore(None)
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 10.0)
    assert store.observe("a", "r", [], 20.0) == {}
    assert store.get("a", "r") == {}
    assert store.observe("a", "r", [Thing("pc-1", "Enabled")], 30.0) == {"pc-1": 30.0}


def test_a_brief_absence_keeps_the_times_and_a_long_one_forgets_them() -> None:
    store = StateStore(None)
    store.observe("a", "r", [Thing("pc-1", "Confirmed")], 10.0, keep_for=100.0)
    assert store.observe("a", "r", [], 20.0, keep_for=100.0) == {}  # not rendered meanwhile
    since = store.observe("a", "r", [Thing("pc-1", "Confirmed")], 30.0, keep_for=100.0)
    assert since == {"pc-1": 10.0} and store.get("a", "r")["pc-1"].first_seen == 10.0
    for now in (40.0, 139.0):  # missing again: the absence counts from its first pass
        store.observe("a", "r", [], now, keep_for=100.0)
    assert set(store.get("a", "r")) == {"pc-1"}
    store.observe("a", "r", [], 140.0, keep_for=100.0)
    assert store.get("a", "r") == {}


def test_examined_snapshots_change_nothing_until_recorded() -> None:
    store = StateStore(None)
    observation = store.examine("a", "r", [Thing("pc-1", "Enabled")], 1.0)
    assert observation.since == {"pc-1": 1.0} and store.get("a", "r") == {}
    store.record(observation)
    assert set(store.get("a", "r")) == {"pc-1"}


def test_kinds_of_collectors_switched_off_are_forgotten() -> None:
    store = StateStore(None)
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 1.0)
    store.observe("a", "r", [Thing("bgp-1", "Up")], 1.0, kind="bgp_peer")
    store.observe("a", "gone", [Thing("pc-2", "Enabled")], 1.0)
    store.forget([("a", "r", "physical_connection")])
    assert set(store.get("a", "r")) == {"pc-1"} and store.get("a", "gone") == {}


def test_kinds_in_one_region_do_not_forget_each_other() -> None:
    store = StateStore(None)
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 1.0)
    since = store.observe("a", "r", [Thing("vbr-1", "active")], 2.0, kind="virtual_border_router")
    assert since == {"vbr-1": 2.0}
    store.observe("a", "r", [Thing("pc-1", "Enabled")], 3.0)
    assert set(store.get("a", "r")) == {"pc-1", "vbr-1"}
    assert set(store.get("a", "r", kind="virtual_border_router")) == {"vbr-1"}
    assert store.get("a", "r")["pc-1"].first_seen == 1.0


async def test_kinds_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.observe("a", "r", [Thing("bgp-1", "Up")], 7.0, kind="bgp_peer")
    await store.save()
    again = StateStore(path)
    again.load()
    entry = again.get("a", "r")["bgp-1"]
    assert (entry.kind, entry.first_seen) == ("bgp_peer", 7.0)


def test_files_from_before_kinds_still_load(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    old = {"pc-1": {"first_seen": 1.0, "status": "Enabled", "status_since": 5.0}}
    path.write_text(json.dumps({"version": 1, "accounts": {"a": {"r": old}}}))
    store = StateStore(path)
    store.load()
    entry = store.get("a", "r")["pc-1"]
    assert (entry.status_since, entry.kind) == (5.0, "physical_connection")
