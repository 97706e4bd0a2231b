"""``metrics:``: allow and deny lists of metric family names (cardinality control).

The section's own checks (a list of non-empty strings, each a valid regular expression) run in
the model; whether a pattern matches any family needs the collectors the configuration is read
for, so ``pattern_problems`` runs after it (from ``loading``), one line per useless pattern,
with the closest family name as a did-you-mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import field_validator

from exporter.collectors.base import Collector
from exporter.config.errors import Problems, suggest
from exporter.metricfilter import FamilyFilter, every_family
from exporter.models import StrictModel

__all__ = ["MetricsConfig", "pattern_problems"]


class MetricsConfig(StrictModel):
    """``metrics: {allow: [...], deny: [...]}``; empty lists keep every family."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @field_validator("allow", "deny", mode="before")
    @classmethod
    def _check_patterns(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            raise ValueError(
                "expected a list of regular expressions (write [pattern] for one pattern)"
            )
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of regular expressions")
        problems = Problems()
        for index, pattern in enumerate(value):
            if not isinstance(pattern, str) or not pattern.strip():
                problems.add(index, "expected a non-empty regular expression")
                continue
            try:
                re.compile(pattern)
            except re.error as error:
                problems.add(index, f"invalid regular expression {pattern!r}: {error}")
        problems.raise_any()
        return tuple(value)

    @property
    def family_filter(self) -> FamilyFilter:
        return FamilyFilter(self.allow, self.deny)


def pattern_problems(data: object, collectors: Sequence[Collector[Any]]) -> list[tuple[str, str]]:
    """(YAML path, problem) for each pattern of the raw ``metrics:`` section that matches no
    family. Patterns the model refuses (not a string, not a regular expression) are skipped:
    the model reports those, and the others are still checked."""
    if not isinstance(data, Mapping):
        return []
    names = every_family(collectors)
    problems = []
    for key in ("allow", "deny"):
        patterns = data.get(key)
        if not isinstance(patterns, list | tuple):
            continue
        for index, pattern in enumerate(patterns):
            compiled = _compiled(pattern)
            if compiled is None or any(compiled.fullmatch(name) for name in names):
                continue
            hint = _prefix_hint(compiled, names) or suggest(pattern, names)
            problems.append(
                (
                    f"metrics.{key}[{index}]",
                    f"pattern {pattern!r} matches no metric family (a pattern matches the "
                    f"whole name){hint}",
                )
            )
    return problems


def _compiled(pattern: object) -> re.Pattern[str] | None:
    if not isinstance(pattern, str) or not pattern.strip():
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _prefix_hint(compiled: re.Pattern[str], names: tuple[str, ...]) -> str:
    """A pattern that matches only the start of names: the one name it starts, or ``.*``
    appended when it starts several (``expressconnect_vbr`` → ``expressconnect_vbr.*``)."""
    started = [name for name in names if compiled.match(name)]
    if not started:
        return ""
    return f" (did you mean {started[0] if len(started) == 1 else compiled.pattern + '.*'!r}?)"
