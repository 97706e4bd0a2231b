"""The Simulator's thread-safe methods for VBRs and BGP peers (a mixin of ``Simulation``).

The control plane and scenario steps call these same methods. Every change is validated in
full before anything is stored, so a refused change (ValueError, answered 400) changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter.simulator.scenario import (
    AddPeerSpec,
    AddVbrSpec,
    FlapSpec,
    ScenarioError,
    Step,
    Target,
)
from exporter.simulator.vbr.fleet import generate_vbrs, new_peer, new_vbr
from exporter.simulator.vbr.model import (
    ESTABLISHED,
    PEER_FIXED,
    PEER_RULES,
    SETTABLE_BGP_STATUSES,
    VBR_FIXED,
    VBR_RULES,
    BgpPeer,
    Vbr,
    apply_changes,
    checked_changes,
    wall_clock,
)
from exporter.simulator.vbr.store import VbrStore

if TYPE_CHECKING:
    from exporter.simulator.accounts import Account
    from exporter.simulator.clock import SimClock
    from exporter.simulator.lines.model import Connection
    from exporter.simulator.lines.store import Store

MAX_FLAP_SECONDS = 7 * 86400.0
_VBR_STEPS = ("set_vbr", "remove_vbr")


@dataclass(frozen=True)
class VbrInfo:
    """What metrics about a VBR need besides its wire record: owner, region, line and whether
    a health check is configured."""

    vbr_id: str
    account: str
    region: str
    physical_connection_id: str
    health_check: bool


class VbrMethods:
    """VBR and BGP peer methods; ``Simulation`` provides the attributes declared here."""

    seed: int
    store: Store
    vbr_store: VbrStore
    clock: SimClock

    def _account(self, name: str | None) -> Account:
        raise NotImplementedError

    def select(self, criteria: dict[str, Any]) -> str:
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------
    def vbrs(
        self, account: str | None = None, region: str | None = None, connection: str | None = None
    ) -> list[dict[str, Any]]:
        """VBRs as DescribeVirtualBorderRouters shows them now, in generation order."""
        with self.vbr_store.lock:
            return [
                self.vbr_store.vbr_view(v)
                for v in self.vbr_store.vbrs(account, region)
                if connection is None or v.pc_id == connection
            ]

    def vbr(self, vbr_id: str) -> dict[str, Any]:
        with self.vbr_store.lock:
            return self.vbr_store.vbr_view(self.vbr_store.vbr(vbr_id))

    def vbr_info(self, vbr_id: str) -> VbrInfo:
        with self.vbr_store.lock:
            return _info(self.vbr_store.vbr(vbr_id))

    def vbr_infos(self, account: str | None = None, region: str | None = None) -> list[VbrInfo]:
        return [_info(v) for v in self.vbr_store.vbrs(account, region)]

    def bgp_peers(
        self, account: str | None = None, region: str | None = None, vbr: str | None = None
    ) -> list[dict[str, Any]]:
        """Peers as DescribeBgpPeers shows them now (a running flap included)."""
        now = wall_clock()
        with self.vbr_store.lock:
            return [
                self.vbr_store.peer_view(p, now)
                for p in self.vbr_store.peers(account, region)
                if vbr is None or p.vbr_id == vbr
            ]

    def bgp_peer(self, peer_id: str) -> dict[str, Any]:
        with self.vbr_store.lock:
            return self.vbr_store.peer_view(self.vbr_store.peer(peer_id))

    def bgp_peer_owner(self, peer_id: str) -> tuple[str, str]:
        peer = self.vbr_store.peer(peer_id)
        return peer.account, peer.region

    def select_vbr(self, criteria: dict[str, Any]) -> str:
        """ID of the ``index``-th VBR whose shown fields equal the rest of ``criteria``."""
        store = self.vbr_store
        return _pick(store.select(store.vbrs(), store.vbr_view, _without_index(criteria)), criteria)

    def select_bgp_peer(self, criteria: dict[str, Any]) -> str:
        """As :meth:`select_vbr`, over peers (``BgpStatus`` as shown now)."""
        store = self.vbr_store
        return _pick(
            store.select(store.peers(), store.peer_view, _without_index(criteria)), criteria
        )

    # -- changing ---------------------------------------------------------------------------
    def set_vbr(self, vbr_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set VBR fields (``Status``, ``Name``, ``VlanId``…, ``health_check``); ``None``
        removes a free-form field. The line's own fields are refused: change the line."""
        with self.vbr_store.lock:
            return self.vbr_store.vbr_view(self.vbr_store.update_vbr(vbr_id, fields))

    def set_bgp_peer(self, peer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set peer fields: ``BgpStatus``, ``ReceivedRouteCount``, ``AdvertisedRouteCount``,
        ``RouteLimit``, ``AuthKey``, ``Hold``…; its group shows the same values."""
        with self.vbr_store.lock:
            return self.vbr_store.peer_view(self.vbr_store.update_peer(peer_id, fields))

    def add_vbr(
        self,
        pc_id: str,
        fields: dict[str, Any] | None = None,
        vbr_id: str | None = None,
        health_check: bool = True,
        peers: int = 1,
    ) -> str:
        """A generated active VBR on a line, with ``peers`` (0-2) peers: IPv4, then IPv6."""
        if isinstance(peers, bool) or peers not in (0, 1, 2):
            raise ValueError(f"peers: must be 0, 1 or 2, got {peers!r}")
        if not isinstance(health_check, bool):
            raise ValueError(f"health_check: must be true or false, got {health_check!r}")
        _check_id("id", vbr_id)
        checked = checked_changes(fields or {}, VBR_RULES, VBR_FIXED, "VBR")
        store = self.vbr_store
        with store.lock:
            conn = self.store.get(pc_id)
            if conn is None:
                raise KeyError(f"no connection {pc_id}")
            owner = self._account(conn.account)
            vbr = new_vbr(
                self._rng("vbr"), conn, owner.name, owner.uid, self.clock.now(), ipv6=peers == 2
            )
            vbr.health_check = health_check
            if vbr_id:
                vbr.fields["VbrId"] = vbr_id
            vbr.fields = apply_changes(vbr.fields, checked)
            store.add_vbr(vbr)
            for version in ("ipv4", "ipv6")[:peers]:
                store.add_peer(new_peer(self._rng("peer"), vbr, version))
            return vbr.id

    def add_bgp_peer(
        self,
        vbr_id: str,
        fields: dict[str, Any] | None = None,
        peer_id: str | None = None,
        ip_version: str = "ipv4",
    ) -> str:
        """A generated Established peer on a VBR, in a BGP group of its own."""
        if ip_version not in ("ipv4", "ipv6"):
            raise ValueError(f"ip_version: must be ipv4 or ipv6, got {ip_version!r}")
        _check_id("id", peer_id)
        checked = checked_changes(fields or {}, PEER_RULES, PEER_FIXED, "BGP peer")
        store = self.vbr_store
        with store.lock:
            peer = new_peer(self._rng("peer"), store.vbr(vbr_id), ip_version)
            if peer_id:
                peer.fields["BgpPeerId"] = peer_id
            peer.fields = apply_changes(peer.fields, checked)
            store.add_peer(peer)
            return peer.id

    def remove_vbr(self, vbr_id: str) -> None:
        """The VBR and its peers."""
        self.vbr_store.remove_vbr(vbr_id)

    def remove_bgp_peer(self, peer_id: str) -> None:
        self.vbr_store.remove_peer(peer_id)

    def flap_bgp_peer(self, peer_id: str, seconds: float, status: str = "Down") -> dict[str, Any]:
        """The session shows ``status`` for ``seconds`` of real time, then its own state again
        (no tick needed: answers compare with the wall clock)."""
        if not 0 < seconds <= MAX_FLAP_SECONDS:
            raise ValueError(f"seconds: must be in (0, {MAX_FLAP_SECONDS:.0f}], got {seconds!r}")
        if status == ESTABLISHED or status not in SETTABLE_BGP_STATUSES:
            raise ValueError(f"status: a session state other than Established, got {status!r}")
        with self.vbr_store.lock:
            peer = self.vbr_store.flap(peer_id, wall_clock() + seconds, status)
            return self.vbr_store.peer_view(peer)

    # -- scenario steps ---------------------------------------------------------------------
    def run_vbr_step(self, step: Step, target: str | None) -> bool:
        """Run a VBR/BGP step; False if the step is of another kind."""
        kind = step.kind()
        spec = step.target()
        if kind in ("set_vbr", "remove_vbr", "set_bgp_peer", "remove_bgp_peer", "flap"):
            ident = target or self.resolve_vbr_target(step)
            if isinstance(spec, Target) and kind == "set_vbr":
                self.set_vbr(str(ident), spec.fields())
            elif isinstance(spec, Target) and kind == "set_bgp_peer":
                self.set_bgp_peer(str(ident), spec.fields())
            elif kind == "remove_vbr":
                self.remove_vbr(str(ident))
            elif kind == "remove_bgp_peer":
                self.remove_bgp_peer(str(ident))
            elif isinstance(spec, FlapSpec):
                self.flap_bgp_peer(str(ident), spec.seconds, spec.status)
            return True
        if isinstance(spec, AddVbrSpec):
            line = target or self.resolve_vbr_target(step)
            self.add_vbr(str(line), spec.fields(), spec.id, spec.health_check, spec.peers)
            return True
        if isinstance(spec, AddPeerSpec):
            vbr = target or self.resolve_vbr_target(step)
            self.add_bgp_peer(str(vbr), spec.fields(), spec.id, spec.ip_version)
            return True
        return False

    def resolve_vbr_target(self, step: Step) -> str | None:
        """The ID a VBR/BGP step acts on: its ``id`` (or ``connection``/``vbr``) or what its
        selector picks now; None for other steps. KeyError if the selector matches nothing."""
        spec = step.target()
        kind = step.kind()
        if isinstance(spec, AddVbrSpec):
            return spec.connection or self.select(spec.select or {})
        if isinstance(spec, AddPeerSpec):
            return spec.vbr or self.select_vbr(spec.select or {})
        if not isinstance(spec, Target | FlapSpec) or kind in ("set", "remove"):
            return None
        if spec.id is not None:
            return spec.id
        if kind in _VBR_STEPS:
            return self.select_vbr(spec.select or {})
        return self.select_bgp_peer(spec.select or {})

    def resolve_vbr_step(self, step: Step, n: int) -> str | None:
        try:
            return self.resolve_vbr_target(step)
        except KeyError as exc:
            raise ScenarioError(f"scenario steps.{n}: {exc.args[0]}") from None

    def _init_vbrs(self, fleets: Iterable[tuple[Account, list[Connection]]], now: float) -> None:
        """The generated VBRs and peers of each account's generated lines."""
        fleets = list(fleets)
        self.vbr_store = VbrStore(self.store, {a.name: a.uid for a, _ in fleets})
        self._vbr_rngs: dict[str, random.Random] = {}
        for account, conns in fleets:
            vbrs, peers = generate_vbrs(
                seed=self.seed, account=account.name, uid=account.uid, conns=conns, now=now
            )
            for vbr in vbrs:
                self.vbr_store.add_vbr(vbr)
            for peer in peers:
                self.vbr_store.add_peer(peer)

    def _rng(self, what: str) -> random.Random:
        """Seeded streams for added VBRs and peers, apart from the generated fleet's."""
        if what not in self._vbr_rngs:
            self._vbr_rngs[what] = random.Random(f"{self.seed}:{what}-added")
        return self._vbr_rngs[what]


def _check_id(name: str, value: object) -> None:
    if value is not None and not (isinstance(value, str) and value):
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")


def _info(vbr: Vbr) -> VbrInfo:
    return VbrInfo(vbr.id, vbr.account, vbr.region, vbr.pc_id, vbr.health_check)


def _without_index(criteria: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in criteria.items() if k != "index"}


def _pick(ids: list[str], criteria: dict[str, Any]) -> str:
    index = int(criteria.get("index", 0))
    if not -len(ids) <= index < len(ids):
        want = _without_index(criteria)
        raise KeyError(f"no record #{index} matches {want} ({len(ids)} match)")
    return ids[index]


__all__ = ["BgpPeer", "VbrInfo", "VbrMethods"]
