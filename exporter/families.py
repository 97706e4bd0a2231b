"""Metric families as data: name, type, HELP, label names and an extractor, each written once.

A collector declares its families in one table (like kube-state-metrics' family generators);
the exposition renders from that table, and the alert rules, dashboards and README take the
names from it. An extractor maps one typed record to sample lines' label suffixes and values,
so rendering is a loop over records and families with no per-metric code anywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from exporter.labels import tag_label_name

R = TypeVar("R")
S = TypeVar("S")

Kind = Literal["gauge", "info", "stateset", "counter"]
# One sample: the label suffix after the record's identity labels (``,status="Enabled"``, or
# ``""``) and its value.
Sample = tuple[str, float]


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What rendering needs besides the record: where it is and what the config adds."""

    account: str
    region_id: str
    tag_labels: tuple[tuple[str, str], ...] = ()
    # Object ID → when its current state was first seen (kept across restarts).
    since: Mapping[str, float] = field(default_factory=dict)


Extractor = Callable[[R, RenderContext], Iterable[Sample]]


@dataclass(frozen=True, slots=True)
class Family(Generic[R]):
    """One metric family: how its samples come out of one record.

    ``labels`` names the labels the family adds beyond the record's identity labels (for the
    documentation and the tests that check it); ``kind`` is what it means, the wire ``TYPE`` is
    derived (state sets and info are gauges in text 0.0.4).
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    extract: Extractor[R]


@dataclass(frozen=True, slots=True)
class RecordFamilies(Generic[S, R]):
    """The families rendered once per record of one kind found in a snapshot.

    ``identity`` gives the labels that name the object (after ``account`` and ``region_id``).
    """

    records: Callable[[S], Iterable[R]]
    identity: Callable[[R], Sequence[tuple[str, str]]]
    families: tuple[Family[R], ...]


@dataclass(frozen=True, slots=True)
class CountFamily(Generic[S]):
    """A per-region count, always present (0 before the first pass and once data went stale)."""

    name: str
    help: str
    count: Callable[[S], int]


def tag_label_names(tags: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(label name, tag key) pairs for the configured tags (the config rejects collisions)."""
    pairs: dict[str, str] = {}
    for key in tags:
        pairs.setdefault(tag_label_name(key), key)
    return tuple(pairs.items())


def escape(value: str) -> str:
    """Label value escaping of the text formats (backslash, double quote, line feed)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def labels_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{escape(value)}"' for name, value in pairs)


# --------------------------------------------------------------------------- family builders


def gauge(name: str, help: str, value: Callable[[R], float | None]) -> Family[R]:
    """A number per record; no sample when the record has none (``None`` or not finite)."""

    def extract(record: R, ctx: RenderContext) -> Iterable[Sample]:
        found = value(record)
        if found is not None and math.isfinite(found):
            yield "", found

    return Family(name, "gauge", help, (), extract)


def gauge_with_context(
    name: str, help: str, value: Callable[[R, RenderContext], float | None]
) -> Family[R]:
    """As ``gauge``, for values that depend on the render context (e.g. remembered times)."""

    def extract(record: R, ctx: RenderContext) -> Iterable[Sample]:
        found = value(record, ctx)
        if found is not None and math.isfinite(found):
            yield "", found

    return Family(name, "gauge", help, (), extract)


def labelled_gauges(
    name: str, help: str, label: str, values: Callable[[R], Iterable[tuple[str, float | None]]]
) -> Family[R]:
    """Several numbers per record told apart by one label (e.g. ``direction``)."""

    def extract(record: R, ctx: RenderContext) -> Iterable[Sample]:
        for label_value, found in values(record):
            if found is not None and math.isfinite(found):
                yield f',{label}="{escape(label_value)}"', found

    return Family(name, "gauge", help, (label,), extract)


def state_set(
    name: str, help: str, label: str, known: Sequence[str], current: Callable[[R], str]
) -> Family[R]:
    """A state set: one series per documented state, 1 for the current one.

    A value outside the documented set gets a series of its own at 1, so nothing is hidden.
    """
    prefixes = tuple((state, f',{label}="{escape(state)}"') for state in known)
    known_set = frozenset(known)

    def extract(record: R, ctx: RenderContext) -> Iterable[Sample]:
        value = current(record)
        for state, suffix in prefixes:
            yield suffix, 1.0 if state == value else 0.0
        if value and value not in known_set:
            yield f',{label}="{escape(value)}"', 1.0

    return Family(name, "stateset", help, (label,), extract)


def info(
    name: str,
    help: str,
    labels: Sequence[str],
    values: Callable[[R], Sequence[tuple[str, str]]],
    *,
    with_tags: Callable[[R], Mapping[str, str]] | None = None,
) -> Family[R]:
    """``*_info``: 1, its descriptive labels from ``values``; configured tags appended as
    ``tag_<key>`` when ``with_tags`` gives the record's tags."""

    def extract(record: R, ctx: RenderContext) -> Iterable[Sample]:
        text = "".join(f',{label}="{escape(value)}"' for label, value in values(record))
        if with_tags is not None and ctx.tag_labels:
            tags = with_tags(record)
            text += "".join(
                f',{label}="{escape(tags.get(key, ""))}"' for label, key in ctx.tag_labels
            )
        yield text, 1.0

    return Family(name, "info", help, tuple(labels), extract)


# --------------------------------------------------------------------------- rendering


def render_families(
    groups: Sequence[RecordFamilies[S, Any]], snapshot: S, ctx: RenderContext
) -> Iterator[tuple[str, list[str]]]:
    """(family name, its sample lines) for one region's snapshot, one family at a time, in
    table order (pure: same input, same lines).

    Family by family rather than record by record, so the caller can encode each family's
    lines and drop them before the next: only one family's lines are ever alive, not a region's.
    """
    base = f'account="{escape(ctx.account)}",region_id="{escape(ctx.region_id)}"'
    objects = [
        [
            (record, base + "".join(f',{k}="{escape(v)}"' for k, v in group.identity(record)))
            for record in group.records(snapshot)
        ]
        for group in groups
    ]
    names = list(dict.fromkeys(family.name for group in groups for family in group.families))
    for name in names:
        out: list[str] = []
        for group, records in zip(groups, objects, strict=True):
            families = [family for family in group.families if family.name == name]
            if families:
                _render_family(families, records, ctx, out)
        yield name, out


def _render_family(
    families: Sequence[Family[Any]],
    records: Iterable[tuple[Any, str]],
    ctx: RenderContext,
    out: list[str],
) -> None:
    for record, ident in records:
        for family in families:
            for suffix, value in family.extract(record, ctx):
                out.append(f"{family.name}{{{ident}{suffix}}} {number(value)}\n")
