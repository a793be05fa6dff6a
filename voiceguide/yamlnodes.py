"""YAML read into nodes that remember where they came from.

PyYAML's composer keeps a line and column for every node; plain ``safe_load``
throws them away. Routine errors must point at ``file:line:col``, so the
loader walks these nodes instead of dicts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import yaml

from voiceguide.errors import RoutineError

#: How deep values may nest. A routine needs about six levels; thousands would
#: exhaust Python's stack inside PyYAML's recursive composer.
MAX_DEPTH = 64
#: How many values aliases may add in all. An "alias bomb" (each anchor made of
#: nine aliases of the one before) grows to billions of values from a few lines.
ALIAS_BUDGET = 100_000
#: The only control characters text may hold: layout that collapses to spaces.
ALLOWED_CONTROLS = frozenset("\t\n\r")


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
    _refuse_raw_controls(text, file)
    loader = _Loader(text, file)
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
    except RecursionError:  # MAX_DEPTH should make this unreachable; one line all the same
        message = f"values nested too deeply (over {MAX_DEPTH} levels)"
        raise RoutineError(message, file=file) from None
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


def control_character(text: str) -> str | None:
    """The first control character in ``text`` other than tab and line breaks, named."""
    for char in text:
        if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
            return f"U+{ord(char):04X}" + (" (escape)" if char == "\x1b" else "")
    return None


def _refuse_raw_controls(text: str, file: str | None) -> None:
    """Control characters typed into the file itself, located (PyYAML would name no line)."""
    if control_character(text) is None:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        for col, char in enumerate(line, start=1):
            if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
                raise RoutineError(
                    f"control character {control_character(char)} is not allowed in a routine",
                    file=file,
                    line=number,
                    col=col,
                )


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with limits: nesting depth and how much aliases may expand.

    PyYAML composes an alias as a second reference to the anchored node, so a
    bomb costs nothing to compose; it explodes in whoever walks the tree. The
    expanded size of every finished node is kept, so the total an alias adds
    is known the moment the alias is read, before anything is expanded.
    """

    def __init__(self, text: str, file: str | None) -> None:
        super().__init__(text)
        self.file = file
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values it expands to
        self.expanded = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return self._alias()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"values nested too deeply (over {MAX_DEPTH} levels)")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in _children(node))
        return node

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        """Stop at the bracket that nests too deep: the scanner looks ahead for keys
        over every open bracket, so ``[[[[…`` costs time quadratic in its depth."""
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise RoutineError(
                f"values nested too deeply (over {MAX_DEPTH} levels)",
                file=self.file, line=mark.line + 1, col=mark.column + 1,
            )  # fmt: skip
        super().fetch_flow_collection_start(token_class)

    def _alias(self) -> Any:
        event = self.peek_event()
        target = self.anchors.get(event.anchor)
        if target is not None and id(target) not in self.sizes:
            raise self._error(f"alias *{event.anchor} refers to the value that contains it")
        if target is not None:
            self.expanded += self.sizes[id(target)]
            if self.expanded > ALIAS_BUDGET:
                raise self._error(
                    f"aliases expand this file past {ALIAS_BUDGET} values; refused "
                    "(write the values out, or use fewer nested aliases)"
                )
        return super().compose_node(None, None)

    def _error(self, message: str) -> RoutineError:
        mark = self.peek_event().start_mark
        return RoutineError(message, file=self.file, line=mark.line + 1, col=mark.column + 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _convert(loader: yaml.SafeLoader, node: yaml.Node, where: Where) -> Node:
    if isinstance(node, yaml.MappingNode):
        return _convert_map(loader, node, where)
    if isinstance(node, yaml.SequenceNode):
        children = tuple(
            _convert(loader, child, where.child(i, child)) for i, child in enumerate(node.value)
        )
        return Node("seq", where, children=children)
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise where.error(f"cannot read this value ({str(err).split(':')[0]})") from None
    return Node("scalar", where, value=value)


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        return loader.construct_object(node)
    except ValueError:
        return None


def _convert_map(loader: yaml.SafeLoader, node: yaml.MappingNode, where: Where) -> Node:
    items: list[tuple[str, Where, Node]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key_where = where.child(0, key_node)
        key = _key(loader, key_node)
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
