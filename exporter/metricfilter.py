"""Which metric families ``/metrics`` carries: ``metrics.allow`` and ``metrics.deny``.

Like kube-state-metrics' ``--metric-allowlist`` / ``--metric-denylist``, a pattern is a regular
expression matched against the whole family name. The filter is applied to the collectors'
family tables before anything is rendered (``filtered``): a dropped family is never rendered,
compressed or given a header, so the chunks prepared for gzip scrapes never hold it.

The exporter's own health is never filtered: the per-(account, region, collector) families of
the region table (``HEALTH_FAMILIES``) and the live block (``SelfMetrics``). They are found
where they are defined, not listed again here, so a health family added there is kept too.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from exporter.collectors.base import Collector
from exporter.regiontable import HEALTH_FAMILIES
from exporter.selfmetrics import SelfMetrics


@dataclass(frozen=True, slots=True)
class FamilyFilter:
    """Allow and deny patterns (fully anchored regular expressions).

    A family is kept when it is one of the exporter's own health families, or when it matches
    an ``allow`` pattern (every family does when ``allow`` is empty) and no ``deny`` pattern:
    deny wins over allow, so ``allow: [expressconnect_vbr_.*]`` with
    ``deny: [expressconnect_vbr_info]`` means every VBR family but ``expressconnect_vbr_info``.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def keeps(self, name: str) -> bool:
        if name in own_health_families():
            return True
        if self.allow and not _any_match(self.allow, name):
            return False
        return not _any_match(self.deny, name)

    def dropped(self, names: Iterable[str]) -> list[str]:
        """The names this filter drops, in the order given."""
        return [name for name in names if not self.keeps(name)]


KEEP_ALL = FamilyFilter()


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def _any_match(patterns: tuple[str, ...], name: str) -> bool:
    return any(pattern.fullmatch(name) for pattern in _compiled(patterns))


def filtered(collector: Collector[Any], keep: FamilyFilter) -> Collector[Any]:
    """``collector`` with only the families ``keep`` keeps in its tables (record kinds left
    without a family are dropped too, so rendering does not even walk their records)."""
    if keep == KEEP_ALL:
        return collector
    records = []
    for group in collector.records:
        families = tuple(family for family in group.families if keep.keeps(family.name))
        if families:
            records.append(dataclasses.replace(group, families=families))
    counts = tuple(count for count in collector.counts if keep.keeps(count.name))
    return dataclasses.replace(collector, records=tuple(records), counts=counts)


def rendering_tables(
    collectors: Mapping[str, Collector[Any]], keep: FamilyFilter
) -> dict[str, Collector[Any]]:
    """Every collector, by name, with its family tables filtered (what the region table renders)."""
    return {name: filtered(collector, keep) for name, collector in collectors.items()}


def collector_families(collectors: Iterable[Collector[Any]]) -> tuple[str, ...]:
    """The families the collectors' tables define (what a filter can drop), in table order."""
    names: dict[str, None] = {}
    for collector in collectors:
        for group in collector.records:
            names.update((family.name, None) for family in group.families)
        names.update((count.name, None) for count in collector.counts)
    return tuple(names)


@functools.cache
def own_health_families() -> frozenset[str]:
    """The exporter's own families, always exported: the region table's health families and
    every family of the live block, as its registry names them on the wire."""
    names = {family.name for family in HEALTH_FAMILIES}
    for metric in SelfMetrics("0").registry.collect():
        suffix = {"counter": "_total", "info": "_info"}.get(metric.type, "")
        names.add(metric.name + suffix)
    return frozenset(names)


def every_family(collectors: Sequence[Collector[Any]]) -> tuple[str, ...]:
    """Every family name ``/metrics`` can carry: the collectors' ones, then the health ones."""
    own = sorted(own_health_families())
    return (*collector_families(collectors), *own)


# --------------------------------------------------------------------------- load warnings

USAGE_RESOURCE = "family_usage.json"


@functools.cache
def shipped_usage() -> Mapping[str, tuple[str, ...]]:
    """Family → the shipped alert rules and dashboards that read it.

    An index written by ``scripts/family_usage.py`` from ``config/alerts/`` and
    ``grafana/dashboards/`` (and held against them by its ``--check``), shipped in the
    package: the exporter does not parse other components' YAML or JSON at run time, and the
    warning works where those files are not installed.
    """
    text = resources.files("exporter.data").joinpath(USAGE_RESOURCE).read_text(encoding="utf-8")
    data = json.loads(text)
    return {family: tuple(users) for family, users in data["families"].items()}


Warning = tuple[str, dict[str, str]]  # a log message and its fields


def load_warnings(keep: FamilyFilter, collectors: Sequence[Collector[Any]]) -> list[Warning]:
    """What to log about a filter at load, once (nothing for the default).

    A dropped family that a shipped alert or dashboard reads (the alert would never fire, the
    panel stays empty), and a deny pattern that matches nothing but the exporter's own health
    families (kept whatever the pattern says).
    """
    if keep == KEEP_ALL:
        return []
    usage = shipped_usage()
    droppable = collector_families(collectors)
    out: list[Warning] = [
        (
            "metric family dropped by metrics.allow/deny is used by shipped alerts or dashboards",
            {"family": name, "used_by": ", ".join(usage[name])},
        )
        for name in keep.dropped(droppable)
        if usage.get(name)
    ]
    for pattern in keep.deny:
        compiled = _compiled((pattern,))[0]
        if not any(compiled.fullmatch(name) for name in droppable):
            own = sorted(name for name in own_health_families() if compiled.fullmatch(name))
            out.append(
                (
                    "metrics.deny pattern matches only the exporter's own health families, "
                    "which are always exported",
                    {"pattern": pattern, "families": ", ".join(own)},
                )
            )
    return out
