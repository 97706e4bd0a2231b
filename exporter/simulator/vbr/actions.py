"""DescribeVirtualBorderRouters, DescribeBgpPeers and DescribeBgpGroups, shaped as the SDK
models read them (lists wrapped in objects, numbers the SDK types as strings sent as strings).

Records are derived from the line under them at answer time (see ``vbr.model``); only the page
asked for is rendered when no filter applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from exporter.simulator import validation as v
from exporter.simulator.filters import parse_filters, tags_match
from exporter.simulator.vbr.model import group_view, wall_clock
from exporter.simulator.vbr.store import VbrStore
from exporter.vocabulary import VBR_FILTER_KEYS

VBR_ACTIONS = ("DescribeVirtualBorderRouters", "DescribeBgpPeers", "DescribeBgpGroups")
PEER_ACTIONS = ("DescribeBgpPeers", "DescribeBgpGroups")
MAX_PAGE_SIZE = 50
# Filter key -> the VBR field it matches (two keys are documented in lower case).
_VBR_FILTER_FIELDS = {k: {"eccId": "EccId", "type": "Type"}.get(k, k) for k in VBR_FILTER_KEYS}
View = dict[str, Any]


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class VbrApi:
    def __init__(self, vbrs: VbrStore) -> None:
        self.vbrs = vbrs

    def handle(
        self,
        action: str,
        params: dict[str, str],
        account: str,
        region: str,
        request_id: str,
        total_count_delta: int = 0,
    ) -> bytes:
        """The answer to one of :data:`VBR_ACTIONS` (``total_count_delta``: an injected
        fault's TotalCount offset)."""
        page_number = v.int_param(params, "PageNumber", 1, 1, 2**31 - 1)
        page_size = v.int_param(params, "PageSize", 10, 1, MAX_PAGE_SIZE)
        if action == "DescribeVirtualBorderRouters":
            total, items = self._vbrs(params, account, region, page_number, page_size)
            wrapper, inner = "VirtualBorderRouterSet", "VirtualBorderRouterType"
        else:
            total, items = self._peers(action, params, account, region, page_number, page_size)
            wrapper, inner = (
                ("BgpPeers", "BgpPeer")
                if action == "DescribeBgpPeers"
                else ("BgpGroups", "BgpGroup")
            )
        return _dump(
            {
                "RequestId": request_id,
                "PageNumber": page_number,
                "PageSize": page_size,
                "TotalCount": total + total_count_delta,
                wrapper: {inner: items},
            }
        )

    def _vbrs(
        self, params: dict[str, str], account: str, region: str, number: int, size: int
    ) -> tuple[int, list[View]]:
        v.bool_param(params, "IncludeCrossAccountVbr")  # no cross-account VBRs are simulated
        parsed = parse_filters(params, VBR_FILTER_KEYS)
        conditions = [
            (_VBR_FILTER_FIELDS[key], {w.lower() for w in wanted})
            for key, wanted in parsed.conditions
        ]
        group = params.get("ResourceGroupId") or None

        def keep(view: View) -> bool:
            if group is not None and view.get("ResourceGroupId") != group:
                return False
            if any(str(view.get(f, "")).lower() not in wanted for f, wanted in conditions):
                return False
            return not parsed.tags or tags_match(view.get("Tags", {}).get("Tags", []), parsed.tags)

        filtered = bool(conditions or parsed.tags or group)
        store = self.vbrs
        with store.lock:
            ids = store.vbr_ids(account, region)
            return _page(
                ids,
                lambda i: store.vbr_view(store.vbr(i)),
                keep if filtered else None,
                number,
                size,
            )

    def _peers(
        self,
        action: str,
        params: dict[str, str],
        account: str,
        region: str,
        number: int,
        size: int,
    ) -> tuple[int, list[View]]:
        wanted = {
            k: params[k]
            for k in ("RouterId", "BgpGroupId", "BgpPeerId")
            if params.get(k) and (k != "BgpPeerId" or action == "DescribeBgpPeers")
        }
        # No peer is in a default BGP group here: IsDefault=true finds none.
        default_only = v.bool_param(params, "IsDefault") is True

        def keep(view: View) -> bool:
            return not default_only and all(view.get(k) == val for k, val in wanted.items())

        store = self.vbrs
        now = wall_clock()
        shape: Callable[[View], View] = group_view if action == "DescribeBgpGroups" else dict
        with store.lock:
            ids = store.peer_ids(account, region)
            total, views = _page(
                ids,
                lambda i: store.peer_view(store.peer(i), now),
                keep if (wanted or default_only) else None,
                number,
                size,
            )
        return total, [shape(view) for view in views]


def _page(
    ids: list[str],
    view: Callable[[str], View],
    keep: Callable[[View], bool] | None,
    number: int,
    size: int,
) -> tuple[int, list[View]]:
    """TotalCount and one page of views; without a filter only the page is rendered."""
    start = (number - 1) * size
    if keep is None:
        return len(ids), [view(i) for i in ids[start : start + size]]
    matching = [shown for shown in map(view, ids) if keep(shown)]
    return len(matching), matching[start : start + size]
