"""VBRs and BGP peers per account and region, in a stable order, under the line store's lock.

Sharing the lock of :class:`~exporter.simulator.lines.store.Store` keeps a VBR's answer consistent
with its line's state while a control change or a lifecycle tick runs in another thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from exporter.simulator.lines.model import HOSTED, Connection
from exporter.simulator.lines.store import Store
from exporter.simulator.vbr.model import (
    PEER_FIXED,
    PEER_RULES,
    VBR_FIXED,
    VBR_RULES,
    BgpPeer,
    Vbr,
    apply_changes,
    checked_changes,
    peer_view,
    vbr_view,
    wall_clock,
)

Key = tuple[str, str]


class VbrStore:
    def __init__(self, lines: Store, uids: Mapping[str, int]) -> None:
        self.lines = lines
        self.lock = lines.lock
        self.uids = dict(uids)
        self._vbrs: dict[str, Vbr] = {}
        self._peers: dict[str, BgpPeer] = {}
        self._vbr_order: dict[Key, list[str]] = {}
        self._peer_order: dict[Key, list[str]] = {}

    # -- reading --------------------------------------------------------------------------
    def vbr(self, vbr_id: str) -> Vbr:
        found = self._vbrs.get(vbr_id)
        if found is None:
            raise KeyError(f"no VBR {vbr_id}")
        return found

    def peer(self, peer_id: str) -> BgpPeer:
        found = self._peers.get(peer_id)
        if found is None:
            raise KeyError(f"no BGP peer {peer_id}")
        return found

    def line(self, vbr: Vbr) -> Connection:
        conn = self.lines.get(vbr.pc_id)
        if conn is None:  # removals cascade, so this is a bug, answered as InternalError
            raise RuntimeError(f"VBR {vbr.id} lost its line {vbr.pc_id}")
        return conn

    def vbr_view(self, vbr: Vbr) -> dict[str, Any]:
        return vbr_view(vbr, self.line(vbr), self.uids.get(vbr.account, 0))

    def peer_view(self, peer: BgpPeer, now: float | None = None) -> dict[str, Any]:
        vbr = self.vbr(peer.vbr_id)
        return peer_view(peer, vbr, self.line(vbr), wall_clock() if now is None else now)

    def vbrs(self, account: str | None = None, region: str | None = None) -> list[Vbr]:
        """VBRs in generation order (per account and region, added ones last)."""
        with self.lock:
            return [v for v in self._vbrs.values() if _owned(v, account, region)]

    def peers(self, account: str | None = None, region: str | None = None) -> list[BgpPeer]:
        with self.lock:
            return [p for p in self._peers.values() if _owned(p, account, region)]

    def vbr_ids(self, account: str, region: str) -> list[str]:
        with self.lock:
            return list(self._vbr_order.get((account, region), []))

    def peer_ids(self, account: str, region: str) -> list[str]:
        with self.lock:
            return list(self._peer_order.get((account, region), []))

    def __len__(self) -> int:
        return len(self._vbrs)

    def peer_count(self) -> int:
        return len(self._peers)

    # -- changing -------------------------------------------------------------------------
    def add_vbr(self, vbr: Vbr) -> None:
        with self.lock:
            if vbr.id in self._vbrs:
                raise ValueError(f"VBR {vbr.id} already exists")
            if self.lines.get(vbr.pc_id) is None:
                raise KeyError(f"no connection {vbr.pc_id}")
            self._vbrs[vbr.id] = vbr
            self._vbr_order.setdefault((vbr.account, vbr.region), []).append(vbr.id)

    def add_peer(self, peer: BgpPeer) -> None:
        with self.lock:
            if peer.id in self._peers:
                raise ValueError(f"BGP peer {peer.id} already exists")
            self.vbr(peer.vbr_id)
            self._peers[peer.id] = peer
            self._peer_order.setdefault((peer.account, peer.region), []).append(peer.id)

    def remove_peer(self, peer_id: str) -> None:
        with self.lock:
            peer = self.peer(peer_id)
            del self._peers[peer_id]
            self._peer_order[(peer.account, peer.region)].remove(peer_id)

    def remove_vbr(self, vbr_id: str) -> None:
        """The VBR and its peers."""
        with self.lock:
            vbr = self.vbr(vbr_id)
            for peer in [p for p in self._peers.values() if p.vbr_id == vbr_id]:
                self.remove_peer(peer.id)
            del self._vbrs[vbr_id]
            self._vbr_order[(vbr.account, vbr.region)].remove(vbr_id)

    def remove_line(self, pc_id: str) -> None:
        """Everything on a line that goes away."""
        with self.lock:
            for vbr in [v for v in self._vbrs.values() if v.pc_id == pc_id]:
                self.remove_vbr(vbr.id)

    def update_vbr(self, vbr_id: str, changes: Mapping[str, Any]) -> Vbr:
        """All or nothing: a change that fails validation leaves the VBR as it was."""
        wanted = dict(changes)
        health = wanted.pop("health_check", None)
        if health is not None and not isinstance(health, bool):
            raise ValueError(f"health_check: must be true or false, got {health!r}")
        checked = checked_changes(wanted, VBR_RULES, VBR_FIXED, "VBR")
        with self.lock:
            vbr = self.vbr(vbr_id)
            if "Bandwidth" in checked and self.line(vbr).fields.get("ProductType") == HOSTED:
                raise ValueError("Bandwidth: a hosted line's VBR has the line's bandwidth")
            vbr.fields = apply_changes(vbr.fields, checked)
            if health is not None:
                vbr.health_check = health
            return vbr

    def update_peer(self, peer_id: str, changes: Mapping[str, Any]) -> BgpPeer:
        """All or nothing, as :meth:`update_vbr`."""
        checked = checked_changes(changes, PEER_RULES, PEER_FIXED, "BGP peer")
        with self.lock:
            peer = self.peer(peer_id)
            peer.fields = apply_changes(peer.fields, checked)
            return peer

    def flap(self, peer_id: str, until: float, status: str) -> BgpPeer:
        with self.lock:
            peer = self.peer(peer_id)
            peer.flap_until = until
            peer.flap_status = status
            return peer

    def rotate(self, peers: bool, account: str, region: str, delta: int) -> None:
        """As :meth:`Store.rotate`, for the VBR or the peer order."""
        with self.lock:
            ids = (self._peer_order if peers else self._vbr_order).get((account, region))
            if not ids or delta == 0:
                return
            k = delta % len(ids)
            ids[:] = ids[-k:] + ids[:-k] if k else ids

    def select(
        self,
        records: Iterable[Any],
        view: Callable[[Any], dict[str, Any]],
        criteria: dict[str, Any],
    ) -> list[str]:
        """IDs of records whose shown fields equal ``criteria`` (``account``/``region`` match
        owner and region), in generation order."""
        want = dict(criteria)
        account = want.pop("account", None)
        region = want.pop("region", None)
        with self.lock:
            out = []
            for record in records:
                if not _owned(record, account, region):
                    continue
                shown = view(record)
                if all(shown.get(k) == v for k, v in want.items()):
                    out.append(str(record.id))
            return out


def _owned(record: Vbr | BgpPeer, account: str | None, region: str | None) -> bool:
    return (account is None or record.account == account) and (
        region is None or record.region == region
    )
