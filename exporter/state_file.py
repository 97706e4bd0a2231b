"""First-seen and status-change times per object, kept across restarts in ``state_file``.

The API says what an object's status is, not since when; this exporter remembers when it first
saw each status so ``..._status_change_timestamp_seconds`` survives a restart. Objects are
physical connections today, virtual border routers and BGP peers later: the store only needs an
ID and a status, and keeps each ``kind`` apart so one collector's snapshot never forgets another
collector's objects in the same region. Writes are atomic (temporary file, fsync, rename, fsync
of the directory) so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol

log = logging.getLogger(__name__)

P = ParamSpec("P")

_FORMAT_VERSION = 1
#: The kind of object when none is given: the exporter's first collector.
DEFAULT_KIND = "physical_connection"


class StatefulObject(Protocol):
    """Anything with an ID and a status: a physical connection, a VBR, a BGP peer."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What is remembered of one object, and which collector's kind of object it is."""

    first_seen: float
    status: str
    status_since: float
    kind: str = DEFAULT_KIND


@dataclass(frozen=True, slots=True)
class Observation:
    """One complete snapshot of one kind of object in a region, examined and not yet recorded:
    the entries of that kind to keep, those missing since when, and the times to render."""

    account: str
    region_id: str
    kind: str
    entries: Mapping[str, ConnectionState]
    absent: Mapping[str, float]
    since: Mapping[str, float]


def _recorded(
    examine: Callable[Concatenate[StateStore, P], Observation],
) -> Callable[Concatenate[StateStore, P], dict[str, float]]:
    """``examine`` and ``record`` in one call, with ``examine``'s parameters: for a caller
    with nothing to check in between (a pass checks that its key is still configured)."""

    def observe(store: StateStore, /, *args: P.args, **kwargs: P.kwargs) -> dict[str, float]:
        """Record a complete snapshot of one kind; returns ID → since when its status holds."""
        observation = examine(store, *args, **kwargs)
        store.record(observation)
        return dict(observation.since)

    return observe


class StateStore:
    """In memory always; on disk too when a path is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._regions: dict[tuple[str, str], dict[str, ConnectionState]] = {}
        # (account, region, kind) → object ID → when a complete pass first missed it. In memory
        # only: after a restart the clock starts again at the first pass that misses it.
        self._absent: dict[tuple[str, str, str], dict[str, float]] = {}
        self._dirty = False
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Read the file if there is one; an unreadable file is logged and replaced, not fatal.

        Temporary files left by a crash in the middle of a write are removed first.
        """
        if self.path is None:
            return
        _remove_stale_temporaries(self.path)
        if not self.path.exists():
            return
        try:
            regions = _parse(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            log.warning(
                "state file unreadable, starting fresh",
                extra={"path": str(self.path), "error": reason},
            )
            return
        self._regions = regions

    def get(
        self, account: str, region_id: str, kind: str | None = None
    ) -> dict[str, ConnectionState]:
        """Object ID → state for the region, of one ``kind`` or (``None``) of every kind."""
        entries = self._regions.get((account, region_id), {})
        return {i: e for i, e in entries.items() if kind is None or e.kind == kind}

    def examine(
        self,
        account: str,
        region_id: str,
        objects: Iterable[StatefulObject],
        now: float,
        *,
        kind: str = DEFAULT_KIND,
        keep_for: float = 0.0,
    ) -> Observation:
        """What a complete snapshot of one kind changes, without changing anything yet: a pass
        records it only if its key is still configured when it ends (``record``).

        Objects of this kind missing from the snapshot keep their times for ``keep_for``
        seconds after the first pass that missed them (an object that disappears briefly and
        comes back keeps its times), then are forgotten: the file must not grow with every line
        ever seen under churn.
        """
        old = self._regions.get((account, region_id), {})
        absent_before = self._absent.get((account, region_id, kind), {})
        entries: dict[str, ConnectionState] = {}
        since: dict[str, float] = {}
        for obj in objects:
            before = old.get(obj.id)
            if before is None or before.kind != kind:
                entry = ConnectionState(now, obj.status, now, kind)
            elif before.status != obj.status:
                entry = ConnectionState(before.first_seen, obj.status, now, kind)
            else:
                entry = before
            entries[obj.id] = entry
            since[obj.id] = entry.status_since
        absent: dict[str, float] = {}
        for object_id, entry in old.items():
            if entry.kind != kind or object_id in entries:
                continue
            gone_at = absent_before.get(object_id, now)
            if now - gone_at < keep_for:
                entries[object_id] = entry
                absent[object_id] = gone_at
        return Observation(account, region_id, kind, entries, absent, since)

    # ``examine`` then ``record`` at once, with ``examine``'s own parameters.
    observe = _recorded(examine)

    def record(self, observation: Observation) -> None:
        """Apply ``examine``'s result; entries of other kinds in the region are left alone."""
        region = (observation.account, observation.region_id)
        old = self._regions.get(region, {})
        new = {i: e for i, e in old.items() if e.kind != observation.kind}
        new.update(observation.entries)
        if new != old:
            self._dirty = True
        self._regions[region] = new
        absent_key = (*region, observation.kind)
        if observation.absent:
            self._absent[absent_key] = dict(observation.absent)
        else:
            self._absent.pop(absent_key, None)

    def forget(
        self, keep: Iterable[tuple[str, str, str]], keep_accounts: Iterable[str] = ()
    ) -> None:
        """Keep only the objects of ``keep``'s (account, region, kind): regions no longer
        configured, and kinds whose collector was switched off, go (a file must not hold times
        nothing updates); accounts in ``keep_accounts`` (regions not known yet) keep all."""
        wanted = set(keep)
        accounts = set(keep_accounts)
        for region in list(self._regions):
            if region[0] in accounts:
                continue
            entries = self._regions[region]
            kept = {i: e for i, e in entries.items() if (*region, e.kind) in wanted}
            if kept != entries:
                self._dirty = True
            if kept:
                self._regions[region] = kept
            else:
                del self._regions[region]
        for absent_key in list(self._absent):
            if absent_key not in wanted and absent_key[0] not in accounts:
                del self._absent[absent_key]

    def _serialise(self) -> bytes:
        accounts: dict[str, dict[str, dict[str, dict[str, object]]]] = {}
        for (account, region_id), entries in sorted(self._regions.items()):
            accounts.setdefault(account, {})[region_id] = {
                object_id: {
                    "first_seen": entry.first_seen,
                    "status": entry.status,
                    "status_since": entry.status_since,
                    "kind": entry.kind,
                }
                for object_id, entry in sorted(entries.items())
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


def _parse(text: str) -> dict[tuple[str, str], dict[str, ConnectionState]]:
    """The file's regions; ValueError, KeyError, TypeError or RecursionError if malformed.

    Files written before ``kind`` existed read as physical connections (a ``last_seen`` that a
    development version wrote is ignored).
    """
    data: Any = json.loads(text)
    if data.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unknown version {data.get('version')!r}")
    regions: dict[tuple[str, str], dict[str, ConnectionState]] = {}
    for account, by_region in data["accounts"].items():
        for region_id, entries in by_region.items():
            regions[(str(account), str(region_id))] = {
                str(object_id): _entry(entry) for object_id, entry in entries.items()
            }
    return regions


def _entry(entry: Any) -> ConnectionState:
    return ConnectionState(
        float(entry["first_seen"]),
        str(entry["status"]),
        float(entry["status_since"]),
        str(entry.get("kind", DEFAULT_KIND)),
    )


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def _remove_stale_temporaries(path: Path) -> None:
    """Delete our temporary files next to ``path``: only a crash mid-write leaves one, and
    loading happens before this process writes anything."""
    try:
        candidates = list(path.parent.glob(_temporary_prefix(path) + "*"))
    except OSError:
        return
    for candidate in candidates:
        if candidate.name.endswith(".tmp"):
            try:
                candidate.unlink()
            except OSError as error:
                log.warning(
                    "cannot remove stale temporary state file",
                    extra={"path": str(candidate), "error": str(error)},
                )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write, fsync, rename over ``path``, then fsync the directory so the rename itself
    survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
