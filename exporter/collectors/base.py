"""The collector seam: what a collector is, and the paging every list action shares.

A collector is a name, the API it calls, one complete pass over an (account, region) that
returns a typed frozen snapshot, and the families that snapshot renders into. The daemon runs
one job per (account, region, collector) and keeps the last good snapshot of each; nothing in
the wiring knows what a collector reads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import field_validator

from exporter.families import CountFamily, Family, RecordFamilies
from exporter.models import Duration, StrictModel
from exporter.state_file import DEFAULT_KIND, StatefulObject

log = logging.getLogger(__name__)

S = TypeVar("S")
R = TypeVar("R")
T = TypeVar("T")

DEFAULT_PAGE_CONCURRENCY = 4
DEFAULT_MAX_RECORDS = 100_000


class Caller(Protocol):
    """What a pass needs from an API client (narrow, so tests can use fakes)."""

    account: str

    async def call(
        self, action: str, region_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]: ...


class PassError(Exception):
    """A pass that could not produce a complete, consistent snapshot."""


class CountDrift(PassError):
    """``TotalCount`` moved while a pass paged: the records read may not be one consistent set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PassSnapshot:
    """What every collector's snapshot holds besides its records: where, and when it was read.

    A subclass adds its records as tuples of frozen dataclasses, sorted by ID.
    """

    account: str
    region_id: str
    completed_at: float
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class UnknownValue:
    """An enumeration value outside the documented set, seen on one object."""

    field: str
    value: str
    object_id: str


class CollectorConfig(StrictModel):
    """``collectors.<name>``, at the top level or under an account: a collector's switch and
    interval. Unset (``None``) means inherit: account, then top level, then the default.

    A collector with settings of its own declares a subclass as ``Collector.settings_model``
    (its fields ``None`` by default, for the same inheritance); the resolved instance reaches
    its passes as ``PassContext.settings``. Defined here, not in the configuration, so a
    collector module never imports the configuration (which imports the collectors).
    """

    enabled: bool | None = None
    interval: Duration | None = None

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value


async def _no_input() -> object:
    raise NotReady("this collector declares no input to wait for")


@dataclass(frozen=True, slots=True)
class PassContext:
    """Everything one pass over one (account, region) may use."""

    client: Caller
    account: str
    region_id: str
    page_size: int = 50
    max_records: int = DEFAULT_MAX_RECORDS
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    # Another collector's last good snapshot for this (account, region), by collector name.
    sibling: Callable[[str], object | None] = lambda name: None
    page_concurrency: int = DEFAULT_PAGE_CONCURRENCY
    # This collector's interval for this account (CloudMonitor's Period derives from it).
    interval: float = 300.0
    # This collector's settings for this account, every unset field resolved
    # (an instance of its ``settings_model``; ``enabled`` and ``interval`` always set).
    settings: CollectorConfig = field(default_factory=CollectorConfig)
    # For a collector with ``needs_late``: waits (up to ``refresh.timeout``) for the ``needs``
    # snapshot of this region and returns it; raises ``NotReady`` when none came in time and
    # ``PassError`` when that collector failed here with nothing to serve.
    needed: Callable[[], Awaitable[object]] = _no_input
    # Another collector's last good snapshot in every region of this account, by region
    # (``None`` where it has none).
    account_sibling: Callable[[str], Mapping[str, object | None]] = lambda name: {}


class NotReady(Exception):
    """A pass that cannot run yet (its input, another collector's snapshot, is missing).

    Not an error: the pass is skipped, nothing is counted and the status is unchanged.
    """


@dataclass(frozen=True, slots=True)
class Tally(Generic[S]):
    """A counter of the exporter's own (``account`` label, present at 0 for every account the
    collector runs for); ``count`` is what one published snapshot adds to it."""

    name: str
    help: str
    count: Callable[[S], int]


@dataclass(frozen=True)
class Collector(Generic[S]):
    """One collector: its name, the API it calls, how a pass runs, what it renders, and the
    settings it runs with. Config, scheduler and wiring read everything from here: adding a
    collector is its module and one line in ``exporter.collectors.COLLECTORS``.

    ``api`` is a key of ``exporter.apis.APIS`` (product version, endpoint, rate limit).
    ``default_interval`` is the interval when none is configured (``None``:
    ``refresh.interval``); ``timeout_policy`` bounds one pass: ``"refresh"`` by
    ``refresh.timeout``, ``"interval"`` by ``max(refresh.timeout, 0.9 * interval)`` (a pass
    never overlaps itself, and a rate-limited account may need longer than ``refresh.timeout``).
    ``settings_model`` is the model of ``collectors.<name>`` in the YAML.

    ``states`` yields the objects whose state change times are remembered across restarts
    (``RenderContext.since``); ``unknown`` yields enumeration values outside the documented
    sets, which are counted and logged once.
    """

    name: str
    api: str
    collect: Callable[[PassContext], Awaitable[S]]
    records: tuple[RecordFamilies[S, Any], ...]
    counts: tuple[CountFamily[S], ...] = ()
    states: Callable[[S], Iterable[StatefulObject]] | None = None
    # Which objects ``states`` yields, so collectors sharing a region keep their own times.
    state_kind: str = DEFAULT_KIND
    unknown: Callable[[S], Iterable[UnknownValue]] = lambda snapshot: ()
    # The API fields ``unknown`` checks (their counters exist at 0 from the start).
    enum_fields: tuple[str, ...] = ()
    # Another collector whose snapshot this one reads (``ctx.sibling``): a pass waits for its
    # first snapshot, and is skipped, not failed, while there is none.
    needs: str | None = None
    # The pass starts at once and waits for ``needs`` itself (``ctx.needed()``), where it
    # uses it: its own API calls need not queue behind the other collector's pass.
    needs_late: bool = False
    # This collector's snapshot kept to what a new snapshot of ``needs`` still holds (a
    # deleted object's series go with it at once, not at this collector's next pass).
    refit: Callable[[S, Any], S] | None = None
    # Collectors besides ``needs`` whose new snapshots ``refit`` is given too (it tells them
    # apart by type); this collector does not wait for them.
    refit_on: tuple[str, ...] = ()
    tallies: tuple[Tally[S], ...] = ()
    default_interval: float | None = None
    timeout_policy: Literal["refresh", "interval"] = "interval"
    settings_model: type[CollectorConfig] = CollectorConfig


class Identified(Protocol):
    """A record named by its ID alone."""

    @property
    def id(self) -> str: ...


N = TypeVar("N", bound=Identified)


def per_id(
    label: str, records: Callable[[S], Iterable[N]], families: tuple[Family[N], ...]
) -> RecordFamilies[S, N]:
    """``families`` once per record of ``records``, the record named by its ID as ``label``:
    the family-table entry of every record kind named by one ID (one named by more, or by
    another field, declares its ``RecordFamilies`` itself)."""
    return RecordFamilies(records, lambda record: ((label, record.id),), families)


# --------------------------------------------------------------------------- paging


def filter_params(filters: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``{"Status": ["Enabled"]}`` → ``Filter.1.Key=Status, Filter.1.Value.1=Enabled``."""
    params: dict[str, str] = {}
    for n, (key, values) in enumerate(sorted(filters.items()), start=1):
        params[f"Filter.{n}.Key"] = key
        for m, value in enumerate(values, start=1):
            params[f"Filter.{n}.Value.{m}"] = value
    return params


def total_count(body: Mapping[str, Any]) -> int:
    total = body.get("TotalCount")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise PassError(f"response without a valid TotalCount: {total!r}")
    return total


def within_max_records(ctx: PassContext, action: str, total: int) -> int:
    """``total``, unless a region lists more records than a pass may hold (the pass fails)."""
    if total > ctx.max_records:
        raise PassError(
            f"{action} says TotalCount {total}, above api.max_records_per_region "
            f"({ctx.max_records})"
        )
    return total


def listed(body: Mapping[str, Any], wrapper: str, item: str) -> list[Mapping[str, Any]]:
    """The records of ``{wrapper: {item: [...]}}``; an absent wrapper is an empty page."""
    outer = body.get(wrapper)
    if outer is None:
        return []
    items = outer.get(item) if isinstance(outer, Mapping) else None
    if not isinstance(items, list):
        raise PassError(f"{wrapper}.{item} is not a list")
    return [record for record in items if isinstance(record, Mapping)]


async def run_workers(count: int, worker: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``count`` copies of ``worker`` (which take their work from one shared iterator).

    The first one to fail for good loses the whole pass: the others are cancelled, awaited,
    and its exception is raised, so no call of a lost pass keeps running.
    """
    workers = [asyncio.create_task(worker()) for _ in range(count)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise


async def redone_on_drift(ctx: PassContext, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, redone once if the listing moved while it was paged (``CountDrift``).

    A second drift in a row fails the pass, because a half-read region must never be published.
    """
    try:
        return await attempt()
    except CountDrift as drift:
        log.info(
            "count drifted, redoing the pass",
            extra={"account": ctx.account, "region_id": ctx.region_id, "reason": str(drift)},
        )
        try:
            return await attempt()
        except CountDrift as again:
            raise PassError(f"count drifted twice in a row: {again}") from None


@dataclass(frozen=True, slots=True)
class Listing(Generic[R]):
    """One paged list action: how to call it and how to type its records."""

    action: str
    wrapper: str
    item: str
    parse: Callable[[Mapping[str, Any]], R]  # raises ValueError for a record without an ID
    key: Callable[[R], str] = lambda record: str(getattr(record, "id"))  # noqa: B009
    # The parameter that names the region: CEN has no RegionId, it lists VbrInstanceRegionId.
    region_param: str = "RegionId"


async def _read_page(
    ctx: PassContext, listing: Listing[R], params: Mapping[str, str], number: int
) -> tuple[int, list[R]]:
    """One page: its ``TotalCount`` and its typed records."""
    request = {
        **params,
        listing.region_param: ctx.region_id,
        "PageNumber": str(number),
        "PageSize": str(ctx.page_size),
    }
    body = await ctx.client.call(listing.action, ctx.region_id, request)
    return total_count(body), _typed(ctx, listing, body)


async def _fetch_pages(
    ctx: PassContext, listing: Listing[R], params: Mapping[str, str]
) -> list[tuple[int, list[R]]]:
    """Page 1 tells the total; the rest are fetched by a bounded pool of workers."""
    first = await _read_page(ctx, listing, params, 1)
    total = within_max_records(ctx, listing.action, first[0])
    pending = iter(range(2, max(1, math.ceil(total / ctx.page_size)) + 1))
    results: dict[int, tuple[int, list[R]]] = {1: first}

    async def worker() -> None:
        for number in pending:  # shared iterator: each page is taken by one worker
            results[number] = await _read_page(ctx, listing, params, number)

    await run_workers(ctx.page_concurrency, worker)
    return [results[number] for number in sorted(results)]


def _typed(ctx: PassContext, listing: Listing[R], body: Mapping[str, Any]) -> list[R]:
    """Type a page at once, so a pass never holds raw JSON; bad records are skipped, logged."""
    out = []
    for record in listed(body, listing.wrapper, listing.item):
        try:
            out.append(listing.parse(record))
        except ValueError as error:
            log.warning(
                "record skipped",
                extra={"action": listing.action, "region_id": ctx.region_id, "error": str(error)},
            )
    return out


async def _one_pass(ctx: PassContext, listing: Listing[R], params: Mapping[str, str]) -> list[R]:
    pages = await _fetch_pages(ctx, listing, params)
    total = pages[0][0]
    by_id: dict[str, R] = {}
    for page_total, records in pages:
        if page_total != total:
            raise CountDrift(f"TotalCount changed during the pass ({total} → {page_total})")
        for record in records:
            by_id[listing.key(record)] = record
    if len(by_id) != total:
        raise CountDrift(f"read {len(by_id)} distinct records, TotalCount says {total}")
    if len(pages) > 1:
        await _check_ends(ctx, listing, params, pages)
    return [by_id[key] for key in sorted(by_id)]


async def _check_ends(
    ctx: PassContext,
    listing: Listing[R],
    params: Mapping[str, str],
    pages: Sequence[tuple[int, list[R]]],
) -> None:
    """Read the first and the last page again: both must hold the same records as before.

    An object deleted and another created while the pages were read leave ``TotalCount`` and
    the number of records as they were, yet the deleted one was read and one that exists was
    missed where the pages shifted. Whatever the (undocumented) order of the list, such a change
    moves the records of the first page (new objects listed first, or a deletion there) or of
    the last one (new objects listed last, or a deletion anywhere before it shifts it).
    """
    for number in (1, len(pages)):
        again_total, again = await _read_page(ctx, listing, params, number)
        before = {listing.key(record) for record in pages[number - 1][1]}
        if again_total != pages[0][0] or {listing.key(record) for record in again} != before:
            raise CountDrift(f"the listing changed during the pass (page {number} moved)")


async def list_all(
    ctx: PassContext, listing: Listing[R], params: Mapping[str, str] | None = None
) -> list[R]:
    """Every record of a paged list action, sorted by key, or an exception.

    A pass whose ``TotalCount`` moves while it runs, or whose first or last page holds other
    records when read again at its end, is redone once; a second drift fails the pass, because
    a half-read region must never be published.
    """
    params = params or {}
    return await redone_on_drift(ctx, lambda: _one_pass(ctx, listing, params))
