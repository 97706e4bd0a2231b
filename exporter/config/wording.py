"""Pydantic's errors in the configuration's own words: one ``(YAML path, problem)`` each.

A problem never echoes the input value (it may be a secret); a misspelt key gets a
``did you mean``, from the fields of the model it sits in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from exporter.config.errors import PathError, Problems, format_path, suggest
from exporter.config.schema import CREDENTIAL_TYPES

__all__ = ["describe_all"]


def describe_all(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """Every (YAML path, problem) in pydantic's errors about ``root``, duplicates dropped."""
    seen: dict[tuple[str, str], None] = {}
    for error in exc.errors():
        for problem in _describe(error, root):
            seen.setdefault(problem)
    return list(seen)


_TAGS = set(CREDENTIAL_TYPES)
_MESSAGES = {
    "missing": "missing required key",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a file path",
    "finite_number": "expected a finite number",
}


def _describe(error: ErrorDetails, root: type[BaseModel]) -> list[tuple[str, str]]:
    """(YAML path, problem) pairs for one pydantic error, without ever echoing the input value."""
    loc: list[str | int] = []
    for index, part in enumerate(error["loc"]):
        # a discriminated union puts its tag into the location: credentials.access_key.x
        if index and error["loc"][index - 1] == "credentials" and part in _TAGS:
            continue
        loc.append(part)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Problems):
        return [(format_path((*loc, *item)), problem) for item, problem in cause.items]
    if isinstance(cause, PathError):
        return list(cause.problems)
    return [_describe_one(error, loc, root)]


def _describe_one(
    error: ErrorDetails, loc: list[str | int], root: type[BaseModel]
) -> tuple[str, str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden" and len(loc) >= 2 and loc[-2] == "collectors":
        name, names = str(loc[-1]), _field_names(root, loc)
        return format_path(tuple(loc)), (
            f"unknown collector {name!r}" + suggest(name, names) + f" (one of: {', '.join(names)})"
        )
    if kind == "extra_forbidden":
        names = _field_names(root, loc)
        return format_path(tuple(loc)), "unknown key" + (
            suggest(str(loc[-1]), names) if names else ""
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return format_path(tuple(loc)), f"must be {words} {bound}"
    if kind == "literal_error":
        return format_path(tuple(loc)), f"must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return (
            format_path((*loc, "type")),
            f"unknown credentials type {ctx.get('tag')!r} (one of: {', '.join(CREDENTIAL_TYPES)})",
        )
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        return format_path(tuple(loc)), message
    if kind in _MESSAGES:
        return format_path(tuple(loc)), _MESSAGES[kind]
    message = error["msg"]
    return format_path(tuple(loc)), message[:1].lower() + message[1:]


def _field_names(root: type[BaseModel], loc: list[str | int]) -> tuple[str, ...]:
    """The keys the model holding ``loc[-1]`` knows; () when there is no single such model."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ()
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if hasattr(a, "model_fields")]
        if len(candidates) != 1:  # none, or a union (credentials): no single list of names
            return ()
        model = candidates[0]
    return tuple(getattr(model, "model_fields", {}))
