"""YAML read into nodes that remember where they came from.

PyYAML's composer keeps a line and column for every node; plain ``safe_load``
throws them away. Routine errors must point at ``file:line:col``, so the
loader walks these nodes instead of dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from voiceguide.errors import RoutineError


@dataclass(frozen=True)
class Where:
    """A place in a file: 1-based line and column, plus the data path to it."""

    file: str | None
    line: int
    col: int
    path: str

    def error(self, message: str) -> RoutineError:
        return RoutineError(
            message, file=self.file, line=self.line, col=self.col, path=self.path or None
        )

    def child(self, key: str | int, node: yaml.Node) -> Where:
        path = f"{self.path}[{key}]" if isinstance(key, int) else _join(self.path, key)
        mark = node.start_mark
        return Where(self.file, mark.line + 1, mark.column + 1, path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass(frozen=True)
class Node:
    """A YAML value and its place; ``value`` is a str/int/float/bool/None for scalars."""

    kind: str  # "map", "seq" or "scalar"
    where: Where
    value: Any = None
    items: tuple[tuple[str, Where, Node], ...] = ()  # map: (key, key's place, value)
    children: tuple[Node, ...] = ()  # seq

    def describe(self) -> str:
        if self.kind == "map":
            return "a mapping"
        if self.kind == "seq":
            return "a list"
        if self.value is None:
            return "nothing"
        shown = repr(self.value)
        if len(shown) > 40:
            shown = shown[:37] + "…" + shown[-1]
        return f"{type(self.value).__name__} {shown}"


def parse(data: bytes, file: str | None) -> Node:
    """Decode and parse a whole document, or raise one located RoutineError."""
    text = _decode(data, file)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise RoutineError("the file is empty", file=file, line=1, col=1)
        return _convert(loader, root, Where(file, 1, 1, ""))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "not valid YAML"
        raise RoutineError(
            f"not valid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            col=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as err:
        raise RoutineError(f"not valid YAML: {err}", file=file) from None
    finally:
        loader.dispose()


def _decode(data: bytes, file: str | None) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise RoutineError(
            f"not UTF-8 text (byte 0x{data[err.start]:02x}); save the file as UTF-8",
            file=file,
            line=line,
            col=col,
        ) from None


def _convert(loader: yaml.SafeLoader, node: yaml.Node, where: Where) -> Node:
    if isinstance(node, yaml.MappingNode):
        return _convert_map(loader, node, where)
    if isinstance(node, yaml.SequenceNode):
        children = tuple(
            _convert(loader, child, where.child(i, child)) for i, child in enumerate(node.value)
        )
        return Node("seq", where, children=children)
    return Node("scalar", where, value=loader.construct_object(node, deep=True))


def _convert_map(loader: yaml.SafeLoader, node: yaml.MappingNode, where: Where) -> Node:
    items: list[tuple[str, Where, Node]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key_where = where.child(0, key_node)
        key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise Where(where.file, key_where.line, key_where.col, where.path).error(
                "field names must be plain words"
            )
        key_where = where.child(key, key_node)
        if key in seen:
            raise key_where.error("this field is given twice")
        seen.add(key)
        items.append((key, key_where, _convert(loader, value_node, where.child(key, value_node))))
    return Node("map", where, items=tuple(items))
