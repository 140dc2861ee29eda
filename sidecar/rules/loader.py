"""Loading and validating rule files: every error as ``file:line: reason``.

The JSON Schema (sidecar/schema/rules.schema.json) is the definition of the format; after it,
``parse_rule`` of the reranking core checks what the algorithm relies on, and this module adds
the checks that span rules and files (duplicate ids, two defaults, regex syntax). The happy path
parses YAML with the C loader; the node tree with line numbers is composed only to place errors.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml
from jsonschema import Draft7Validator

from ..rerank.rule import parse_constraint, parse_rule
from .ruleset import Located, RuleSet, build_ruleset

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "rules.schema.json"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RuleError:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class RuleLoadError(Exception):
    """A rule set that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft7Validator:
    """Lists every error with its path: used to explain a file that failed the fast check."""
    return Draft7Validator(schema())


@lru_cache(maxsize=1)
def _fast_check():
    """The same schema compiled to Python: a yes/no answer ~7x faster, for the happy path."""
    return fastjsonschema.compile(schema())


def _schema_errors(data: Any):
    try:
        _fast_check()(data)
        return []
    except fastjsonschema.JsonSchemaException:
        return sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))


def _line_index(text: str) -> dict[tuple, int]:
    """path -> 1-based line, for every node; a mapping key's path + ('<key>',) is the key's line."""
    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text, Loader=_Loader)
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


class _Lines:
    def __init__(self, text: str):
        self.text = text
        self._index: dict[tuple, int] | None = None

    def at(self, path: tuple, key: str | None = None) -> int:
        if self._index is None:
            self._index = _line_index(self.text)
        if key is not None and path + (key, "<key>") in self._index:
            return self._index[path + (key, "<key>")]
        p = tuple(path)
        while p and p not in self._index:
            p = p[:-1]
        return self._index.get(p, 1)


def _schema_message(err: Any) -> tuple[str, str | None]:
    """A merchandiser-readable reason for one jsonschema error, and the offending key if any."""
    where = "/".join(str(p) for p in err.absolute_path) or "file"
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return f"unknown key {extra[0]!r} in {where} (allowed: {', '.join(allowed)})", extra[0]
    if v == "oneOf" and "min" in json.dumps(err.schema["oneOf"]):
        return f"{where}: exactly one of 'min' or 'max' is required", None
    if v == "not" and "any" in json.dumps(err.schema["not"]):
        return f"{where}: 'any: true' goes with 'max' only (a minimum per distinct value is not defined)", None
    if v in ("exclusiveMinimum", "maximum", "minimum") and err.absolute_path and err.absolute_path[-1] in ("min", "max"):
        return f"{where}: a fraction must be in (0, 1], got {err.instance!r}", None
    if v == "required":
        return f"{where}: {err.message}", None
    if v == "const" and err.absolute_path and err.absolute_path[-1] in ("default", "any"):
        return f"{where}: must be true when given, got {err.instance!r}", None
    return f"{where}: {err.message}", None


_CACHE: dict[tuple[str, str], tuple[list[Located], list[RuleError]]] = {}
_CACHE_MAX = 4096


def check_text(text: str, file: str) -> tuple[list[Located], list[RuleError]]:
    """Validate one file's text (cached by content: a reload re-parses only edited files)."""
    key = (file, hashlib.sha1(text.encode()).hexdigest())
    hit = _CACHE.get(key)
    if hit is None:
        hit = _check_text(text, file)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return list(hit[0]), list(hit[1])


def _check_text(text: str, file: str) -> tuple[list[Located], list[RuleError]]:
    """Validate one file's text; returns its rules (with lines) and its errors."""
    lines = _Lines(text)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [RuleError(file, line, f"YAML syntax error at column {col}: {problem}")]
    if data is None:
        return [], [RuleError(file, 1, "empty file: expected a mapping with a 'rules' list")]
    errors = []
    broken_rules: set[int] = set()  # rules with schema errors skip the semantic checks below
    for err in _schema_errors(data):
        reason, key = _schema_message(err)
        errors.append(RuleError(file, lines.at(tuple(err.absolute_path), key), reason))
        path = list(err.absolute_path)
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            broken_rules.add(path[1])
        else:
            return [], errors  # the file's shape itself is wrong
    located = []
    for i, raw in enumerate(data.get("rules", [])):
        path = ("rules", i)
        if i in broken_rules:
            continue
        try:
            for j, c in enumerate(raw.get("constraints", [])):
                try:
                    parse_constraint(c, f"rule {raw['id']!r}: constraints[{j}]")
                except ValueError as exc:
                    errors.append(RuleError(file, lines.at(path + ("constraints", j)), str(exc)))
                    raise
            rule = parse_rule(raw)
        except ValueError as exc:
            if not errors or errors[-1].reason != str(exc):
                errors.append(RuleError(file, lines.at(path), str(exc)))
            continue
        for k, pat in enumerate(rule.match.get("patterns", [])):
            try:
                re.compile(pat)
            except re.error as exc:
                errors.append(RuleError(file, lines.at(path + ("match", "patterns", k)),
                                        f"rule {rule.id!r}: invalid regular expression '{pat}': {exc}"))
                break
        else:
            located.append(Located(rule, file, lines.at(path)))
    return located, errors


def rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_rules_dir(directory: Path) -> RuleSet:
    """Load every *.yaml / *.yml of a directory (in name order); RuleLoadError lists all problems."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RuleLoadError([RuleError(str(directory), 0, "not a directory")])
    files = rule_files(directory)
    all_located: list[Located] = []
    errors: list[RuleError] = []
    digest = hashlib.sha1()
    for path in files:
        text = path.read_text(encoding="utf-8")
        digest.update(path.name.encode() + b"\0" + text.encode())
        located, errs = check_text(text, str(path))
        all_located += located
        errors += errs
    seen: dict[str, Located] = {}
    default: Located | None = None
    for loc in all_located:
        if loc.rule.id in seen:
            first = seen[loc.rule.id]
            errors.append(RuleError(loc.file, loc.line, f"duplicate rule id {loc.rule.id!r} (first at {first.file}:{first.line})"))
        else:
            seen[loc.rule.id] = loc
        if loc.rule.match.get("default"):
            if default is not None:
                errors.append(RuleError(loc.file, loc.line, f"second default rule {loc.rule.id!r} "
                                        f"(the default is already {default.rule.id!r} at {default.file}:{default.line})"))
            else:
                default = loc
    if not files:
        errors.append(RuleError(str(directory), 0, "no rule files (*.yaml) found"))
    if errors:
        raise RuleLoadError(errors)
    return build_ruleset(all_located, [str(p) for p in files], digest.hexdigest()[:12])
