"""The state file: status-change times survive restarts; writes are atomic; junk is survivable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.collectors.physical_connections import PhysicalConnection
from exporter.state_file import DEFAULT_KIND, StateStore


def conn(pc: str, status: str) -> PhysicalConnection:
    return PhysicalConnection(id=pc, status=status)


async def test_times_persist_and_change_only_with_status(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    store = StateStore(path)
    since = store.observe("a", "r", [conn("pc-1", "Enabled"), conn("pc-2", "Initial")], 100.0)
    assert since == {"pc-1": 100.0, "pc-2": 100.0}
    await store.save()
    again = StateStore(path)
    again.load()
    since = again.observe("a", "r", [conn("pc-1", "Enabled"), conn("pc-2", "Approved")], 200.0)
    assert since == {"pc-1": 100.0, "pc-2": 200.0}
    since = again.observe("a", "r", [conn("pc-2", "Approved")], 300.0)  # pc-1 deleted
    assert since == {"pc-2": 200.0}
    await again.save()
    saved = json.loads(path.read_text())
    assert saved["accounts"]["a"]["r"] == {
        "pc-2": {
            "first_seen": 100.0,
            "status": "Approved",
            "status_since": 200.0,
            "kind": "physical_connection",
        }
    }
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left


async def test_forget_keeps_accounts_whose_regions_are_not_known_yet(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    store.observe("a", "r1", [conn("pc-1", "Enabled")], 1.0)
    store.observe("a", "r2", [conn("pc-2", "Enabled")], 1.0)
    store.observe("all-account", "r9", [conn("pc-9", "Enabled")], 1.0)
    store.forget([("a", "r1", DEFAULT_KIND)], keep_accounts=["all-account"])
    assert store.get("a", "r1") and not store.get("a", "r2") and store.get("all-account", "r9")


@pytest.mark.parametrize("content", ["{not json", '{"version": 99}', '{"version": 1}', "[]"])
def test_unreadable_file_starts_fresh(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    store = StateStore(path)
    store.load()
    assert store.get("a", "r") == {}


def test_unknown_enumeration_values_are_reported() -> None:
    from exporter.collectors.physical_connections import parse_connection

    known = parse_connection({"PhysicalConnectionId": "pc", "Status": "Allocation Failed"})
    assert known.status == "AllocationFailed" and known.unknown_enums() == ()
    odd = parse_connection(
        {"PhysicalConnectionId": "pc", "Status": "Frozen", "BusinessStatus": "Overdue"}
    )
    assert odd.unknown_enums() == (("Status", "Frozen"), ("BusinessStatus", "Overdue"))
