"""``${NAME}`` / ``${NAME:-default}`` environment references in a parsed YAML document.

Substitution happens after parsing, so a value can never inject YAML structure; a secret's
value is never quoted in an error, not even in part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from exporter.config.errors import format_path

__all__ = ["Interpolator"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Keys whose values are never quoted in an error, not even in part.
_SECRET_KEYS = frozenset({"access_key_secret", "security_token"})


class Interpolator:
    """``${NAME}`` / ``${NAME:-default}`` in every string of a parsed document.

    ``:-`` takes the default when the variable is unset or empty, and the default is itself
    interpolated (``${A:-${B}}``), as in a shell; ``$$`` is a literal ``$``. Substitution
    happens after YAML parsing, so a value can never inject YAML structure. Problems are
    collected, not raised: the failed value becomes ``None`` and its path is remembered so
    the validation error it causes is not reported a second time.
    """

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.variables: dict[str, list[str]] = {}  # path → names used in its value

    def walk(self, value: object, path: tuple[str | int, ...], parents: frozenset[int]) -> object:
        """A copy of ``value`` (YAML aliases stop being shared); an alias inside itself fails."""
        if isinstance(value, dict | list):
            if id(value) in parents:
                return self._fail(path, "a YAML alias refers to itself")
            inner = parents | {id(value)}
            if isinstance(value, dict):
                return {k: self.walk(v, (*path, str(k)), inner) for k, v in value.items()}
            return [self.walk(v, (*path, i), inner) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        secret = any(part in _SECRET_KEYS for part in path if isinstance(part, str))
        try:
            return self._expand(value, format_path(path), secret)
        except _Failure as failure:
            return self._fail(path, str(failure))

    def _fail(self, path: tuple[str | int, ...], problem: str) -> object:
        """Record the problem; the value becomes ``None``."""
        where = format_path(path)
        self.problems.append((where, problem))
        self.failed.append(where)
        return None

    def _expand(self, text: str, where: str, secret: bool) -> str:
        out: list[str] = []
        index = 0
        while index < len(text):
            if text.startswith("$$", index):
                out.append("$")
                index += 2
            elif text.startswith("${", index):
                end = _closing_brace(text, index + 2)
                if end < 0:
                    raise _Failure(
                        "unterminated environment reference: '${' without '}'"
                        " (write $$ for a literal $)"
                    )
                out.append(self._reference(text[index + 2 : end], where, secret))
                index = end + 1
            else:
                out.append(text[index])
                index += 1
        return "".join(out)

    def _reference(self, body: str, where: str, secret: bool) -> str:
        name, sep, default = body.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            if secret:  # the reference is part of a literal secret: quote none of it
                raise _Failure(
                    "invalid environment reference (not shown: the value is a secret;"
                    " write $$ for a literal $)"
                )
            raise _Failure(f"invalid environment reference ${{{body}}}")
        self.variables.setdefault(where, []).append(name)
        found = os.environ.get(name)
        if found is not None and (found or not sep):
            return found
        if sep:
            return self._expand(default, where, secret)
        raise _Failure(f"environment variable {name} is not set")

    def explain(
        self, problems: list[tuple[str, str]], skip: Sequence[str]
    ) -> list[tuple[str, str]]:
        """Validation problems minus those under ``skip``, naming the variables a value came
        from (``page_size: ${PS:-50}`` with ``PS=abc`` says PS, not just "expected a number")."""
        result = []
        for where, problem in problems:
            if any(_under(where, failed) for failed in skip):
                continue
            names = sorted({n for p, ns in self.variables.items() if _under(where, p) for n in ns})
            if names:
                problem += " (value from environment variable" + ("s " if len(names) > 1 else " ")
                problem += ", ".join(names) + ")"
            result.append((where, problem))
        return result


class _Failure(Exception):
    """An interpolation problem in one value."""


def _under(path: str, parent: str) -> bool:
    """Whether YAML path ``path`` is ``parent`` or inside it."""
    if not path.startswith(parent):
        return False
    rest = path[len(parent) :]
    return not rest or rest[0] in ".[" or not parent


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``, or -1."""
    depth = 0
    index = start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
            continue
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1
