"""First-seen and status-change times per connection, kept across restarts in ``state_file``.

The API says what a connection's status is, not since when; this exporter remembers when it
first saw each status so ``..._status_change_timestamp_seconds`` survives a restart. Writes are
atomic (temporary file + rename) so a crash never leaves half a file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from exporter.snapshot import PhysicalConnection

log = logging.getLogger(__name__)

_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ConnectionState:
    first_seen: float
    status: str
    status_since: float


class StateStore:
    """In memory always; on disk too when a path is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._regions: dict[tuple[str, str], dict[str, ConnectionState]] = {}
        self._dirty = False
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Read the file if there is one; an unreadable file is logged and replaced, not fatal."""
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != _FORMAT_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            regions: dict[tuple[str, str], dict[str, ConnectionState]] = {}
            for account, by_region in data["accounts"].items():
                for region_id, connections in by_region.items():
                    regions[(account, region_id)] = {
                        conn_id: ConnectionState(
                            float(entry["first_seen"]),
                            str(entry["status"]),
                            float(entry["status_since"]),
                        )
                        for conn_id, entry in connections.items()
                    }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning(
                "state file unreadable, starting fresh",
                extra={"path": str(self.path), "error": str(error)},
            )
            return
        self._regions = regions

    def get(self, account: str, region_id: str) -> dict[str, ConnectionState]:
        return dict(self._regions.get((account, region_id), {}))

    def observe(
        self,
        account: str,
        region_id: str,
        connections: Iterable[PhysicalConnection],
        now: float,
    ) -> dict[str, float]:
        """Record a complete snapshot; returns ID → when its current status was first seen.

        Connections missing from the snapshot are forgotten (they are gone from the API).
        """
        old = self._regions.get((account, region_id), {})
        new: dict[str, ConnectionState] = {}
        for conn in connections:
            before = old.get(conn.id)
            if before is None:
                new[conn.id] = ConnectionState(now, conn.status, now)
            elif before.status != conn.status:
                new[conn.id] = ConnectionState(before.first_seen, conn.status, now)
            else:
                new[conn.id] = before
        if new != old:
            self._dirty = True
        self._regions[(account, region_id)] = new
        return {conn_id: entry.status_since for conn_id, entry in new.items()}

    def forget_regions(
        self, keep: Iterable[tuple[str, str]], keep_accounts: Iterable[str] = ()
    ) -> None:
        """Drop regions no longer configured, except those of ``keep_accounts``."""
        wanted = set(keep)
        accounts = set(keep_accounts)
        for key in list(self._regions):
            if key not in wanted and key[0] not in accounts:
                del self._regions[key]
                self._dirty = True

    def _serialise(self) -> bytes:
        accounts: dict[str, dict[str, dict[str, dict[str, object]]]] = {}
        for (account, region_id), connections in sorted(self._regions.items()):
            accounts.setdefault(account, {})[region_id] = {
                conn_id: {
                    "first_seen": entry.first_seen,
                    "status": entry.status,
                    "status_since": entry.status_since,
                }
                for conn_id, entry in sorted(connections.items())
            }
        return json.dumps({"version": _FORMAT_VERSION, "accounts": accounts}).encode()

    async def save(self) -> None:
        """Write the file if anything changed; the write runs off the event loop."""
        if self.path is None or not self._dirty:
            return
        async with self._lock:
            if not self._dirty:
                return
            data = self._serialise()
            self._dirty = False
            try:
                await asyncio.to_thread(_atomic_write, self.path, data)
            except OSError as error:
                self._dirty = True
                log.error(
                    "cannot write state file", extra={"path": str(self.path), "error": str(error)}
                )


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
