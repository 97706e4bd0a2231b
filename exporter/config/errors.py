"""Configuration problems and the pieces every validator uses to report them.

One problem is one line, ``<source>: <yaml path>: <problem>``; validators collect every bad
element (``Problems``) or cross-field contradiction (``PathError``) before raising, so one run
of ``--check-config`` reports all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["ConfigError", "Item", "PathError", "Problems", "format_path", "kind", "suggest"]


class ConfigError(Exception):
    """Configuration problems, one line each: ``<source>: <yaml path>: <problem>``.

    ``path`` and ``problem`` describe the first problem (the one a reader fixes first); ``lines``
    holds every problem found, each line complete on its own, and ``str()`` joins them with
    newlines. ``path`` is empty for problems with the file as a whole (unreadable, not YAML).
    """

    def __init__(
        self, source: str, path: str, problem: str, more: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.source = source
        self.path = path
        self.problem = " ".join(problem.split())  # one line, whatever the cause said
        rest = ((where, " ".join(what.split())) for where, what in more)
        self.problems: tuple[tuple[str, str], ...] = ((path, self.problem), *rest)
        self.lines: tuple[str, ...] = tuple(
            f"{source}: {where}: {what}" if where else f"{source}: {what}"
            for where, what in self.problems
        )
        super().__init__("\n".join(self.lines))


Item = int | str | tuple[int | str, ...]


class Problems(ValueError):
    """Problems with elements of a list or mapping, each moving the YAML path down to its item.

    A validator collects every bad element before raising, so one run reports all of them.
    """

    def __init__(self, items: Sequence[tuple[Item, str]] = ()) -> None:
        super().__init__("; ".join(problem for _, problem in items))
        self.items: list[tuple[tuple[int | str, ...], str]] = []
        for item, problem in items:
            self.add(item, problem)

    def add(self, item: Item, problem: str) -> None:
        self.items.append((item if isinstance(item, tuple) else (item,), problem))

    def __len__(self) -> int:
        return len(self.items)

    def raise_any(self) -> None:
        if self.items:
            raise Problems(self.items)


def suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


class PathError(ValueError):
    """Cross-field problems that belong to paths other than where pydantic raised them."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(problem for _, problem in problems))
        self.problems = tuple(problems)


def format_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
