"""Catalog text to plain data, with the line where each value was written.

The catalog validator (catalog.py) works on plain data (dicts, lists, scalars) and reports each
error at a path such as `("services", "files.download", "splits", 1)`. This module turns the
text into that data and remembers, for each path it can place, the line it starts on. An error
at a path that was not placed is reported at its nearest placed ancestor (a key inside an inline
table is reported at the line of the table), which is exact enough to find the mistake.

TOML is parsed by the standard library's `tomllib`, which gives no positions, so the lines come
from a scan of the text: table headers, `key =` lines, and the elements of arrays that span
lines. The scan runs only on text `tomllib` accepted, so it may be simple. YAML is composed into
PyYAML nodes, which carry their marks, and then constructed with the safe constructor; anchors
and aliases are refused (an alias repeats a subtree, and a few nested ones repeat it millions of
times for whoever walks the data). Booleans are YAML 1.2's, `true` and `false` only: under
PyYAML's YAML 1.1 rules a points rule's `on: charge` read as `{True: "charge"}`, and `yes`,
`no` and `off` as booleans too (decision 0091).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

import yaml

Path = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\]|\\.)*"'
_LITERAL = r"'[^']*'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)
_TOML_LINE = re.compile(r"line (\d+)")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: `on`, `off`, `yes` and `no` are words."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


@dataclass(slots=True)
class Source:
    """Parsed text: the data, where its values start, and any error that stopped the parse."""

    data: object = None
    lines: dict[Path, int] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def line_of(self, path: Path) -> int:
        """The line of `path` or of its nearest placed ancestor; 0 when nothing is placed."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 0


def parse_toml(text: str) -> Source:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        return Source(errors=[(int(match.group(1)) if match else 0, f"not valid TOML: {exc}")])
    return Source(data=data, lines=_toml_lines(text))


def parse_yaml(text: str) -> Source:
    try:  # the reader refuses control characters before parsing starts
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        return Source(errors=[(0, f"not valid YAML: {exc}")])
    try:
        node = loader.get_single_node()
        if node is None:
            return Source(data=None, lines={(): 1})
        source = Source(lines={(): node.start_mark.line + 1})
        _yaml_walk(node, (), source, set())
        if not source.errors:
            source.data = loader.construct_document(node)
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return Source(errors=[(line, f"not valid YAML: {exc.problem or exc}")])
    except yaml.YAMLError as exc:
        return Source(errors=[(0, f"not valid YAML: {exc}")])
    finally:
        loader.dispose()


def _yaml_walk(node: yaml.Node, path: Path, source: Source, seen: set[int]) -> None:
    if id(node) in seen:  # an alias: the node is shared, so its own mark is the anchor's
        source.errors.append((source.line_of(path),
                              "anchors and aliases are not allowed in a catalog"))
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                source.errors.append((line, "a key must be a plain string"))
                continue
            key = str(key_node.value)
            if key in keys:
                source.errors.append((line, f"the key {key!r} is given twice"))
            keys.add(key)
            source.lines.setdefault((*path, key), line)
            _yaml_walk(value_node, (*path, key), source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source.lines.setdefault((*path, index), item.start_mark.line + 1)
            _yaml_walk(item, (*path, index), source, seen)


def _toml_lines(text: str) -> dict[Path, int]:
    lines = text.splitlines()
    found: dict[Path, int] = {}
    table: Path = ()
    array_tables: dict[Path, int] = {}
    open_string: str | None = None  # inside a multi-line string started on an earlier line
    row = 0
    while row < len(lines):
        line = lines[row]
        if open_string is not None:
            if line.count(open_string) % 2 == 1:
                open_string = None
            row += 1
            continue
        if match := _ARRAY_TABLE.match(line):
            parts = _key_parts(match.group(1))
            index = array_tables.get(parts, 0)
            array_tables[parts] = index + 1
            table = (*parts, index)
            _place_with_parents(found, table, row + 1)
        elif match := _TABLE.match(line):
            table = _key_parts(match.group(1))
            _place_with_parents(found, table, row + 1)
        elif match := _KEY.match(line):
            path = (*table, *_key_parts(match.group(1)))
            _place_with_parents(found, path, row + 1)
            rest = line[match.end():]
            for quotes in ('"""', "'''"):
                if rest.count(quotes) % 2 == 1:
                    open_string = quotes
            if rest.lstrip().startswith("["):
                row = _scan_array(lines, row, match.end(), path, found)
                continue
        row += 1
    return found


def _place_with_parents(found: dict[Path, int], path: Path, line: int) -> None:
    found[path] = line
    for end in range(1, len(path)):
        found.setdefault(path[:end], line)


def _scan_array(lines: list[str], row: int, col: int, path: Path,
                found: dict[Path, int]) -> int:
    """Place each element of the array value that starts at (row, col); return the next row."""
    depth = 0
    element = 0
    expecting = False
    quote: str | None = None
    r, c = row, col
    while r < len(lines):
        text = lines[r]
        while c < len(text):
            if quote is not None:
                if quote in ('"', '"""') and text[c] == "\\":
                    c += 2
                    continue
                if text.startswith(quote, c):
                    c += len(quote)
                    quote = None
                else:
                    c += 1
                continue
            ch = text[c]
            if ch == "#":
                break
            if ch.isspace():
                c += 1
                continue
            if depth == 1 and expecting and ch not in ",]":
                found[(*path, element)] = r + 1
                element += 1
                expecting = False
            if ch in "\"'":
                quote = ch * 3 if text.startswith(ch * 3, c) else ch
                c += len(quote)
                continue
            if ch in "[{":
                depth += 1
                if depth == 1:
                    expecting = True
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return r + 1
            elif ch == "," and depth == 1:
                expecting = True
            c += 1
        r, c = r + 1, 0
    return row + 1  # unreachable for text tomllib accepted; do not swallow the rest


def _key_parts(dotted: str) -> tuple[str, ...]:
    parts: list[str] = []
    for match in _PART_RE.finditer(dotted):
        token = match.group(0)
        if token.startswith('"'):
            try:
                parts.append(str(json.loads(token)))
            except ValueError:  # a TOML escape JSON lacks (\U0001F600, \e): close enough
                parts.append(token[1:-1])
        elif token.startswith("'"):
            parts.append(token[1:-1])
        else:
            parts.append(token)
    return tuple(parts)
