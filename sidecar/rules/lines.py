"""A rule file's YAML: parsed by yaml-rs (YAML 1.2 core), and, only for a file with an error,
read again by PyYAML for the line of each node, duplicated keys and aliases (refused before
anything expands them)."""
from __future__ import annotations

import re
from typing import Any

import yaml
import yaml_rs

from .errors import RuleError

NodeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # error path only: node marks give lines

SYNTAX_AT = re.compile(r"at line (\d+), column (\d+)")


def parse_yaml(text: str) -> Any:
    """The file's data; yaml_rs.YAMLDecodeError on a syntax error or a duplicated key."""
    return yaml_rs.loads(text, parse_datetime=False)


def syntax_error(exc: Exception, file: str) -> RuleError:
    """yaml-rs's message, placed on its line and column when it gives them."""
    message = str(exc)
    m = SYNTAX_AT.search(message)
    if m:
        reason = message.strip().splitlines()[-1]
        return RuleError(file, int(m.group(1)), f"YAML syntax error at column {m.group(2)}: {reason}")
    return RuleError(file, 1, f"YAML syntax error: {message}")


def duplicate_keys(text: str) -> list[tuple[int, str]]:
    """(line, key) of every repeated key of every mapping, in file order."""
    try:
        root = yaml.compose(text, Loader=NodeLoader)
    except yaml.YAMLError:
        return []
    found = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in node.value:
                if k.value in seen:
                    found.append((k.start_mark.line + 1, k.value))
                seen.add(k.value)
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML read as yaml-rs reads (YAML 1.2 core): dates stay strings, yes/no/on/off are
    strings. Used only to go on checking a file whose one fault is a duplicated key."""

Yaml12Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def line_index(text: str) -> dict[tuple, int]:
    """path -> 1-based line, for every node; a mapping key's path + ('<key>',) is the key's line."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=NodeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key, "<key>")] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


class Lines:
    """The line of each node of a file's YAML, found only when an error needs one."""
    def __init__(self, text: str):
        self.text = text
        self._index: dict[tuple, int] | None = None

    def at(self, path: tuple, key: str | None = None) -> int:
        """The 1-based line of the node at ``path`` (of ``key`` in it when given); the nearest
        enclosing node's line when that path is not in the file; 1 when nothing is."""
        if self._index is None:
            self._index = line_index(self.text)
        if key is not None and path + (key, "<key>") in self._index:
            return self._index[path + (key, "<key>")]
        p = tuple(path)
        while p and p not in self._index:
            p = p[:-1]
        return self._index.get(p, 1)

ID_KEY = re.compile(r"""id[ \t]*:[ \t]*(?:'([^'\n]*)'|"([^"\\\n]*)"|([^'"\s,}#][^,}#\n]*?))[ \t]*(?=$|[,}#\n])""", re.M)


class RuleLines:
    """Each rule's line, found by one scan of the text for ``id:`` keys, taken in file order.

    Composing the whole node tree for this cost ~0.7 s per 1,000 rules; the scan costs a few ms.
    When an id is written so that the scan misses it (escapes, odd quoting), the node tree is
    composed after all.
    """

    def __init__(self, text: str, lines: Lines):
        self.text = text
        self.lines = lines
        self.found = [(m.start(), m.group(1) or m.group(2) or m.group(3) or "") for m in ID_KEY.finditer(text)
                      if m.start() == 0 or text[m.start() - 1] in " \t\n{,"]  # a key, not the end of 'paid:'
        self.next = 0  # index into found
        self.pos = 0  # text position and its 1-based line, advanced together
        self.line = 1

    def line_of(self, index: int, rule_id: str) -> int:
        """The line of rule ``index`` whose id is ``rule_id``, scanning forward from the last rule
        found (rules come in file order); the YAML node index when the scan cannot place it."""
        for k in range(self.next, len(self.found)):
            start, value = self.found[k]
            if value == rule_id:
                self.line += self.text.count("\n", self.pos, start)
                self.pos, self.next = start, k + 1
                return self.line
        return self.lines.at(("rules", index))

ALIAS_HINT = re.compile(r"[&*]")


def aliases(text: str, file: str) -> list[RuleError]:
    """An error for the first YAML anchor or alias: refused before anything expands them (a
    500-byte alias bomb expands to 10^8 nodes). Scanning is linear; only texts that contain
    '&' or '*' at all are scanned."""
    if not ALIAS_HINT.search(text):
        return []
    try:
        for token in yaml.scan(text, Loader=NodeLoader):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                return [RuleError(file, token.start_mark.line + 1, "YAML anchors and aliases (&name, *name) are not "
                                                                   "allowed in rule files: write the values out")]
    except yaml.YAMLError:
        return []  # a syntax error: the parser reports it with its line
    return []
