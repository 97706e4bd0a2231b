"""Reading YAML safely: SafeLoader only, duplicate keys refused, alias bombs refused.

Errors quote the problem and its position, never the snippet of the line (it could hold a
secret).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from exporter.config.errors import ConfigError

__all__ = ["MAX_YAML_NODES", "UniqueKeyLoader", "YamlTooLargeError", "parse_yaml"]

#: Nodes a document may expand to through aliases. An "alias bomb" (each level referring to
#: the one before nine times) is a few hundred bytes but expands to billions of values.
MAX_YAML_NODES = 100_000


class YamlTooLargeError(yaml.composer.ComposerError):
    """The document expands (through aliases) to more than ``MAX_YAML_NODES`` nodes."""


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one, and
    documents whose aliases expand to more than ``MAX_YAML_NODES`` nodes.

    A fresh loader is made for every document (``yaml.load``), so loading is thread-safe.
    """

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], busy: set[int]) -> int:
    """Nodes in ``node`` with every alias expanded; YamlTooLargeError at the first (innermost)
    node past ``MAX_YAML_NODES``.

    Shared nodes are counted once per reference (that is what construction and interpolation
    will copy) but computed once; a node inside itself counts once (refused later, by path).
    """
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in busy:
        return 1
    busy.add(key)
    total = 1
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        total += _expanded_size(child, sizes, busy)
        if total > MAX_YAML_NODES:
            raise YamlTooLargeError(
                None,
                None,
                f"YAML aliases expand to more than {MAX_YAML_NODES} values",
                node.start_mark,
            )
    busy.discard(key)
    sizes[key] = total
    return total


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        try:
            duplicate = key in seen
        except TypeError:
            duplicate = False
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)

_FLOW_HINT = ' (quote values that use ${...} inside {...} or [...], e.g. {key: "${VAR}"})'


def parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RecursionError:
        raise ConfigError(source, "", "YAML nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        # problem/context only: the snippet YAML appends could show a secret on that line
        what = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, YamlTooLargeError):
            raise ConfigError(where, "", what) from None
        if not what.startswith("duplicate key"):
            what = f"YAML syntax error: {what}"
            if mark and _unquoted_reference(text, mark.line):
                what += _FLOW_HINT
        raise ConfigError(where, "", what) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"YAML syntax error: {type(exc).__name__}") from None


def _unquoted_reference(text: str, line: int) -> bool:
    """Whether line ``line`` (0-based) has a ``${`` outside quotes: in a flow mapping the
    braces of an unquoted ``${VAR}`` are YAML syntax, the usual cause of such an error."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    unquoted = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "", lines[line])
    return "${" in unquoted
