"""The simulator's state: connections per account and region, in a stable order, behind one lock.

Everything that reads or changes connections (API actions, the control plane, scenarios, the
lifecycle clock) goes through this class, so the HTTP thread and test threads can share it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

from exporter.simulator.lines import lifecycle
from exporter.simulator.lines.model import Connection

Predicate = Callable[[Connection], bool]


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self._by_id: dict[str, Connection] = {}
        self._order: dict[tuple[str, str], list[str]] = {}
        self.rng = random.Random(f"{seed}:new-ids")

    # -- reading --------------------------------------------------------------------------
    def get(self, pc_id: str) -> Connection | None:
        return self._by_id.get(pc_id)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def page(
        self,
        account: str,
        region: str,
        predicate: Predicate | None,
        page_number: int,
        page_size: int,
    ) -> tuple[int, list[bytes]]:
        """TotalCount and the serialized records of one page, in the stable order."""
        start = (page_number - 1) * page_size
        with self.lock:
            ids = self._order.get((account, region), [])
            if predicate is None:
                chosen = ids[start : start + page_size]
                return len(ids), [self._by_id[i].json() for i in chosen]
            matching = [c for c in (self._by_id[i] for i in ids) if predicate(c)]
            return len(matching), [c.json() for c in matching[start : start + page_size]]

    def select(self, criteria: dict[str, Any]) -> list[Connection]:
        """Connections whose fields equal ``criteria`` (``account``/``region`` match the owner
        and region, ``has`` lists fields that must be present), in generation order: the
        deterministic selector scenarios use."""
        want = dict(criteria)
        account = want.pop("account", None)
        region = want.pop("region", None)
        has = want.pop("has", [])
        has = [has] if isinstance(has, str) else list(has)
        with self.lock:
            return [
                c
                for c in self._by_id.values()
                if (account is None or c.account == account)
                and (region is None or c.region == region)
                and all(k in c.fields for k in has)
                and all(c.fields.get(k) == v for k, v in want.items())
            ]

    # -- changing -------------------------------------------------------------------------
    def add(self, conn: Connection, front: bool = False) -> None:
        with self.lock:
            if conn.id in self._by_id:
                raise KeyError(f"connection {conn.id} already exists")
            self._by_id[conn.id] = conn
            ids = self._order.setdefault((conn.account, conn.region), [])
            if front:
                ids.insert(0, conn.id)
            else:
                ids.append(conn.id)

    def remove(self, pc_id: str) -> Connection | None:
        with self.lock:
            conn = self._by_id.pop(pc_id, None)
            if conn is not None:
                self._order[(conn.account, conn.region)].remove(pc_id)
            return conn

    def update(self, pc_id: str, changes: dict[str, Any], now: float) -> Connection:
        with self.lock:
            conn = self._by_id.get(pc_id)
            if conn is None:
                raise KeyError(f"no connection {pc_id}")
            conn.update(changes, now)
            return conn

    def rotate(self, account: str, region: str, delta: int) -> None:
        """Move ``delta`` records from the end to the front (negative: front to end), which is
        what a client paging through the list sees when records move between pages."""
        with self.lock:
            ids = self._order.get((account, region))
            if not ids or delta == 0:
                return
            k = delta % len(ids)
            ids[:] = ids[-k:] + ids[:-k] if k else ids

    def tick(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Apply every lifecycle change due by ``now`` (chained, so clock jumps catch up)."""
        changed: list[tuple[str, dict[str, Any]]] = []
        with self.lock:
            for conn in self._by_id.values():
                if conn.due_stale:
                    conn.due = lifecycle.due_time(conn)
                    conn.due_stale = False
                if conn.due is None or conn.due > now:
                    continue
                conn.due_stale = True
                for _ in range(8):
                    due = lifecycle.step(conn, now)
                    if due is None:
                        break
                    changes, at = due
                    conn.update(changes, now)
                    if "Status" in changes:
                        conn.status_since = at
                    changed.append((conn.id, changes))
        return changed
