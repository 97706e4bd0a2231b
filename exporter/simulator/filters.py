"""``Filter.N.Key`` / ``Filter.N.Value.M`` and ``Tags.N.Key`` / ``Tags.N.Value`` parameters.

The flattened-list grammar is the same for every Describe action that takes them; only the
accepted filter keys differ, so the parsing lives here once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from exporter.simulator.errors import ErrorAnswer, invalid_parameter

_FILTER_KEY = re.compile(r"Filter\.(\d+)\.Key")
_FILTER_VALUE = re.compile(r"Filter\.(\d+)\.Value\.(\d+)")
_TAG = re.compile(r"Tags\.(\d+)\.(Key|Value)")
MAX_FILTERS = 5
MAX_FILTER_VALUES = 5
MAX_TAGS = 20


@dataclass(frozen=True)
class Filters:
    """Parsed conditions: filter keys ANDed with their values ORed; tags all required (a tag
    without a value matches any value)."""

    conditions: tuple[tuple[str, frozenset[str]], ...]
    tags: tuple[tuple[str, str | None], ...]

    def __bool__(self) -> bool:
        return bool(self.conditions or self.tags)


def unsupported_key(n: int) -> ErrorAnswer:
    return ErrorAnswer(
        "InvalidFilterKey.ValueNotSupported",
        f"Specified filter key is not supported: Filter.{n}.key",
        404,
    )


def parse_filters(params: Mapping[str, str], keys: Collection[str]) -> Filters:
    """Filters and tags of a request; an unknown key answers the documented 404, a malformed
    parameter name ``InvalidParameter`` naming it. Filters without values are ignored."""
    names: dict[int, str] = {}
    values: dict[int, set[str]] = {}
    tag_keys: dict[int, str] = {}
    tag_values: dict[int, str] = {}
    for name, value in params.items():
        if name.startswith("Filter."):
            if m := _FILTER_KEY.fullmatch(name):
                n = int(m[1])
                if not 1 <= n <= MAX_FILTERS:
                    raise invalid_parameter(name, value)
                if value not in keys:
                    raise unsupported_key(n)
                names[n] = value
            elif m := _FILTER_VALUE.fullmatch(name):
                if not (1 <= int(m[1]) <= MAX_FILTERS and 1 <= int(m[2]) <= MAX_FILTER_VALUES):
                    raise invalid_parameter(name, value)
                values.setdefault(int(m[1]), set()).add(value)
            else:
                raise invalid_parameter(name, value)
        elif name.startswith("Tags."):
            m = _TAG.fullmatch(name)
            if m is None or not 1 <= int(m[1]) <= MAX_TAGS:
                raise invalid_parameter(name, value)
            (tag_keys if m[2] == "Key" else tag_values)[int(m[1])] = value
    conditions = tuple(
        (key, frozenset(values[n])) for n, key in sorted(names.items()) if values.get(n)
    )
    tags = tuple((k, tag_values.get(n)) for n, k in sorted(tag_keys.items()))
    return Filters(conditions, tags)


def tags_match(have: list[dict[str, str]], wanted: tuple[tuple[str, str | None], ...]) -> bool:
    """Every wanted tag present (with its value, when one is given)."""
    pairs = {t.get("Key"): t.get("Value") for t in have}
    return all(k in pairs and (v is None or pairs[k] == v) for k, v in wanted)
