"""Loading and validating rule files: every error as ``file:line: reason``.

The JSON Schema (sidecar/schema/rules.schema.json) is the definition of the format; after it,
``parse_rule`` of the reranking core checks what the algorithm relies on, and this module adds
the checks that span rules and files (duplicate ids, two defaults, regex syntax).

The happy path is compiled code: yaml-rs parses (YAML 1.2 core schema: ``yes`` is a string, not
true; dates stay ISO strings; a duplicated key is an error) and jsonschema-rs gives the schema's
yes/no. Only a file with an error pays for the slow tools that explain it: PyYAML composes the
node tree for line numbers and jsonschema lists every schema error with its path.
"""
from __future__ import annotations

import difflib
import gc
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
import yaml_rs

from ..catalog import FIELDS, KEYWORD_FIELDS
from ..rerank.rule import parse_constraint, parse_rule
from .errors import NOT_A_DIRECTORY, RuleError, RuleLoadError
from .experiments import Experiment, parse_experiment
from .file_schema import schema_errors, schema_message
from .lines import Lines, RuleLines, SYNTAX_AT, Yaml12Loader, aliases, duplicate_keys, parse_yaml, syntax_error
from .patterns import RulePattern
from .ruleset import Located, RuleSet, build_ruleset
from ..understand import DEFAULT_POLICY, Policy
from ..understand.rewrites import Rewrite, RewriteSet, parse_rewrite


@dataclass(frozen=True)
class Declared:
    """A file's ``understanding`` section and where it is written."""

    policy: Policy
    file: str
    line: int


@dataclass(frozen=True)
class Sections:
    """A file's sections beside its rules and experiments: ``understanding`` (at most one in a
    set) and ``rewrites`` (every file's, in file order)."""

    understanding: Declared | None = None
    rewrites: tuple[Rewrite, ...] = ()  # the file's, in order


NO_SECTIONS = Sections()
Checked = tuple[list[Located], list[RuleError], list[Experiment], Sections]
_CACHE: dict[tuple[str, str], Checked] = {}
_CACHE_MAX = 4096


def _cache_key(text: str, file: str) -> tuple[str, str]:
    return file, hashlib.sha1(text.encode()).hexdigest()


def check_text(text: str, file: str, parsed: Callable[[], Any] | None = None,
               shared: dict[str, Any] | None = None) -> Checked:
    """Validate one file's text (cached by content: a reload re-parses only edited files): its
    rules, its errors and its experiments.

    ``parsed`` returns the text's YAML data when it was parsed ahead (see load_rules_dir);
    ``shared`` lets the rules of one load share each distinct constraint (``parse_rule``).
    """
    key = _cache_key(text, file)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _check_text(text, file, parsed, shared)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return list(hit[0]), list(hit[1]), list(hit[2]), hit[3]


def check_draft(text: str, file: str = "draft") -> tuple[list[Located], list[RuleError]]:
    """A rule file's text typed into a page (/inspect): checked as a file of the rule directory
    is, with the same line-numbered errors, but never cached (a draft is one person's request).
    Bounded: at most MAX_DRAFT_BYTES, and no YAML aliases."""
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_DRAFT_BYTES:
        return [], [RuleError(file, 1, f"{size} bytes: a draft may have at most {MAX_DRAFT_BYTES} bytes")]
    return ([], bombs) if (bombs := aliases(text, file)) else _check_text(text, file, None)[:2]


def _check_text(text: str, file: str, parsed: Callable[[], Any] | None,
                shared: dict[str, Any] | None = None) -> Checked:
    """Validate one file's text; returns its rules (with lines), its errors and its experiments."""
    lines = Lines(text)
    errors = []
    try:
        data = parsed() if parsed is not None else parse_yaml(text)
    except yaml_rs.YAMLDecodeError as exc:
        # yaml-rs places syntax errors, but not a duplicated key: those are found in the node tree
        duplicates = [] if SYNTAX_AT.search(str(exc)) else duplicate_keys(text)
        if not duplicates:
            return [], [syntax_error(exc, file)], [], NO_SECTIONS
        # duplicated keys only: name each, then check the rest as PyYAML reads it (the last
        # value of a duplicated key), so one slip does not hide every other error of the file
        errors += [RuleError(file, line, f"duplicate key {key!r} in one mapping (the first would be silently "
                                         "overwritten)") for line, key in duplicates]
        data = yaml.load(text, Loader=Yaml12Loader)
    if data is None:
        return [], [RuleError(file, 1, "empty file: expected a mapping with a 'rules' list")], [], NO_SECTIONS
    # ("rules" | "experiments" | "rewrites", i) with schema errors; a broken rule's constraints are still checked one by one
    broken_rules: set[tuple] = set()
    schema_paths: list[tuple] = []
    for err in schema_errors(data):
        reason, key = schema_message(err)
        errors.append(RuleError(file, lines.at(tuple(err.absolute_path), key), reason))
        path = list(err.absolute_path)
        schema_paths.append(tuple(path))
        if len(path) == 2 and err.validator == "required" and "match" in err.validator_value:
            continue  # no match: the rest of the rule is still checked
        if len(path) >= 2 and path[0] in ("rules", "experiments", "rewrites") and isinstance(path[1], int):
            broken_rules.add(tuple(path[:2]))
        else:
            return [], errors, [], NO_SECTIONS  # the file's shape itself is wrong
    located = []
    rule_lines = RuleLines(text, lines)
    for i, raw in enumerate(data.get("rules", [])):
        path = ("rules", i)
        compiled, bad_regex = _patterns(raw, file, lines, path)
        errors += bad_regex
        fields = _field_errors(raw, file, lines, path)
        errors += fields
        own = raw.get("rewrites") if isinstance(raw, dict) else None
        own_rewrites, problems = _rewrites(list(enumerate(own)) if isinstance(own, list) else [], file, lines,
                                           (*path, "rewrites"))
        errors += problems
        if ("rules", i) in broken_rules:
            errors += _constraint_errors(raw, file, lines, path, schema_paths)
            continue
        if "rewrites" in raw:  # the sidecar's, not the core's: the rule shape the core parses has none
            raw = {k: v for k, v in raw.items() if k != "rewrites"}
        try:
            rule = parse_rule(raw, shared=shared)
        except ValueError as exc:
            each = _constraint_errors(raw, file, lines, path, schema_paths)
            errors += each or [RuleError(file, lines.at(path), str(exc))]
            continue
        if not bad_regex and not fields and not problems:
            located.append(Located(rule, file, rule_lines.line_of(i, rule.id), compiled, RewriteSet.of(own_rewrites)))
    experiments = []
    for i, raw in enumerate(data.get("experiments", [])):
        if ("experiments", i) in broken_rules:
            continue
        experiment, problems = parse_experiment(raw, file, lines.at(("experiments", i)))
        errors += [RuleError(file, lines.at(("experiments", i), key), reason) for key, reason in problems]
        if experiment is not None:
            experiments.append(experiment)
    understanding = None
    if isinstance(data.get("understanding"), dict) and not any(p[:1] == ("understanding",) for p in schema_paths):
        raw = data["understanding"]
        unknown = [f for f in raw.get("fields", {}) if f not in KEYWORD_FIELDS]
        errors += [RuleError(file, lines.at(("understanding", "fields"), f),
                             f"understanding.fields: {f!r} is not a keyword field of the catalog "
                             f"({', '.join(KEYWORD_FIELDS)})") for f in unknown]
        if not unknown:
            understanding = Declared(Policy(dict(raw.get("fields", DEFAULT_POLICY.fields)),
                                            raw.get("prices", DEFAULT_POLICY.prices),
                                            raw.get("product_type", DEFAULT_POLICY.product_type)),
                                     file, lines.at((), "understanding"))
    rewrites, problems = _rewrites([(i, raw) for i, raw in enumerate(data.get("rewrites", []))
                                    if ("rewrites", i) not in broken_rules], file, lines, ("rewrites",))
    errors += problems
    return located, sorted(errors, key=lambda e: e.line), experiments, Sections(understanding, rewrites)


def _rewrites(entries: list[tuple[int, Any]], file: str, lines: Lines, path: tuple
              ) -> tuple[tuple[Rewrite, ...], list[RuleError]]:
    """The rewrites (index, entry) of the list at ``path`` (the file's, or a rule's), each knowing
    its file:line, and an error per problem, named by its place."""
    out, errors = [], []
    for j, raw in entries:
        at = (*path, j)
        rw, problems = parse_rewrite(raw, f"{file}:{lines.at(at)}", KEYWORD_FIELDS)
        label = f"rules[{path[1]}].rewrites[{j}]" if path[0] == "rules" else f"rewrites[{j}]"
        errors += [RuleError(file, lines.at(at, key), f"{label}: {reason}") for key, reason in problems]
        if rw is not None:
            out.append(rw)
    return tuple(out), errors


def _patterns(raw: Any, file: str, lines: Lines, path: tuple) -> tuple[tuple[RulePattern, ...], list[RuleError]]:
    """A rule's compiled match patterns, and an error per pattern that is not a regular expression
    (checked even when the rule has schema errors, so one reading shows all of them)."""
    match = raw.get("match") if isinstance(raw, dict) else None
    patterns = match.get("patterns") if isinstance(match, dict) else None
    compiled, errors = [], []
    for k, pat in enumerate(patterns if isinstance(patterns, list) else []):
        if not isinstance(pat, str):
            continue
        try:
            compiled.append(RulePattern(pat))
        except ValueError as exc:
            rid = raw.get("id")
            errors.append(RuleError(file, lines.at(path + ("match", "patterns", k)),
                                    f"rule {rid!r}: invalid regular expression '{pat}': {exc}"))
    return tuple(compiled), errors


def _constraint_errors(raw: Any, file: str, lines: Lines, path: tuple, schema_paths: list[tuple]) -> list[RuleError]:
    """The core's verdict on each constraint of a rule that its schema let through, each on its own
    line: one reading of a file shows every error, not the first per rule."""
    found = []
    cons = raw.get("constraints") if isinstance(raw, dict) else None
    rid = raw.get("id") if isinstance(raw, dict) else None
    for j, c in enumerate(cons if isinstance(cons, list) else []):
        at = path + ("constraints", j)
        if any(p[:len(at)] == at for p in schema_paths):
            continue  # already reported by the schema
        try:
            parse_constraint(c, f"rule {rid!r}: constraints[{j}]")
        except ValueError as exc:
            found.append(RuleError(file, lines.at(at), str(exc)))
    return found


def _field_errors(raw: Any, file: str, lines: Lines, path: tuple) -> list[RuleError]:
    """Constraints (and dedup) on a field retrieval never fetches would silently do nothing:
    refused, naming the fields it does fetch (and the likely one meant)."""
    if not isinstance(raw, dict):
        return []
    named = [(path + ("constraints", j, "field"), c.get("field"))
             for j, c in enumerate(raw.get("constraints") or []) if isinstance(c, dict)]
    if isinstance(raw.get("dedup"), dict) and "field" in raw["dedup"]:
        named.append((path + ("dedup", "field"), raw["dedup"]["field"]))
    found = []
    for at, name in named:
        if isinstance(name, str) and name and name not in FIELDS:
            near = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            found.append(RuleError(file, lines.at(at), f"rule {raw.get('id')!r}: field {name!r} is not one retrieval "
                                                       f"fetches{hint}; the fields are: {', '.join(FIELDS)}"))
    return found

MAX_FILE_BYTES = 8 << 20  # a rule file above this is rejected unread (10k rules take ~2 MB)

MAX_DRAFT_BYTES = 256 << 10  # a draft pasted into /inspect (about 1,000 rules)


def rule_files(directory: Path) -> list[Path]:
    """The directory's entries named *.yaml / *.yml, in name order (files or not: a directory or
    a dangling link of that name is an error of ``read_sources``, never silently skipped)."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def read_sources(directory: Path) -> tuple[list[Path], list[str], list[RuleError]]:
    """Each rule file's path and text, and an error for each entry that cannot be a rule file:
    not a regular file, a link leading out of the directory, over MAX_FILE_BYTES, not UTF-8.
    No file's content is quoted in an error (a link could point at any file of the machine)."""
    directory = Path(directory)
    if not directory.is_dir():
        return [], [], [RuleError(str(directory), 0, NOT_A_DIRECTORY)]
    root = directory.resolve()
    files, texts, errors = [], [], []
    for path in rule_files(directory):
        try:
            real = path.resolve()
            if path.is_symlink() and real.parent != root:
                errors.append(RuleError(str(path), 0, "a symbolic link leading out of the rules directory: refused"))
                continue
            if not real.is_file():
                kind = "a directory" if real.is_dir() else "not a regular file (or a dangling link)"
                errors.append(RuleError(str(path), 0, f"{kind}: a rule file must be a YAML file"))
                continue
            size = real.stat().st_size
            if size > MAX_FILE_BYTES:
                errors.append(RuleError(str(path), 0, f"{size} bytes: over the {MAX_FILE_BYTES} bytes a rule file may have"))
                continue
            data = real.read_bytes()
        except OSError as exc:
            errors.append(RuleError(str(path), 0, f"cannot be read: {exc.strerror or type(exc).__name__}"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            errors.append(RuleError(str(path), line, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"))
            continue
        files.append(path)
        texts.append(text)
    return files, texts, errors


def load_rules_dir(directory: Path, sources: tuple[list[Path], list[str]] | None = None, *,
                   arm: bool = False) -> RuleSet:
    """Load every *.yaml / *.yml of a directory (in name order); RuleLoadError lists all problems.
    ``sources``: (paths, texts) already read (a snapshot of the last good set), not re-read.
    ``arm``: the directory is an experiment's arm, which may not declare experiments itself.

    The cyclic garbage collector is paused while the set is built: 10k rules allocate ~10^6
    acyclic objects, and its repeated passes over them cost ~20% of the load.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_rules_dir(Path(directory), sources, arm)
    finally:
        if was_enabled:
            gc.enable()


def _load_rules_dir(directory: Path, sources: tuple[list[Path], list[str]] | None, arm: bool) -> RuleSet:
    if sources is None:
        files, texts, errors = read_sources(directory)
        if errors and errors[0].reason == NOT_A_DIRECTORY:
            raise RuleLoadError(errors)
    else:
        (files, texts), errors = sources, []
    all_located: list[Located] = []
    all_experiments: list[Experiment] = []
    understanding: Declared | None = None
    rewrites: list[Rewrite] = []
    digest = hashlib.sha1()
    shared: dict[str, Any] = {}  # constraints parsed once per distinct mapping, for this load only
    bombs = {i: aliases(text, str(path)) for i, (path, text) in enumerate(zip(files, texts))}
    # yaml-rs parses partly without the GIL: files not in the cache are parsed in order by a
    # thread, ahead of this one validating them (a cold load of 10k rules: ~10-15% faster here)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rules-yaml") as pool:
        ahead = {i: pool.submit(parse_yaml, text) for i, (path, text) in enumerate(zip(files, texts))
                 if not bombs[i] and _cache_key(text, str(path)) not in _CACHE}
        for i, (path, text) in enumerate(zip(files, texts)):
            digest.update(path.name.encode() + b"\0" + text.encode())
            if bombs[i]:
                errors += bombs[i]
                continue
            located, errs, experiments, sections = check_text(text, str(path), ahead[i].result if i in ahead else None,
                                                              shared)
            rewrites += sections.rewrites
            declared = sections.understanding
            if declared is not None:
                if understanding is not None:
                    errs.append(RuleError(declared.file, declared.line, "a second understanding section (the first is "
                                                                         f"at {understanding.file}:{understanding.line})"))
                understanding = declared
            all_located += located
            all_experiments += experiments
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
    if not files and not errors:
        errors.append(RuleError(str(directory), 0, "no rule files (*.yaml) found"))
    if arm:
        errors += [RuleError(ex.file, ex.line, "an experiment in an experiment's arm: arms cannot run experiments")
                   for ex in all_experiments]
    if errors:
        raise RuleLoadError(errors)
    policy = understanding.policy if understanding else DEFAULT_POLICY
    rules = build_ruleset(all_located, [str(p) for p in files], digest.hexdigest()[:12],
                          replace(policy, rewrites=RewriteSet.of(rewrites)) if rewrites else policy)
    return with_experiments(rules, directory, all_experiments) if all_experiments else rules


def with_experiments(rules: RuleSet, directory: Path, experiments: list[Experiment]) -> RuleSet:
    """The rule set with its experiments and each arm's rule set loaded (``"."``: ``rules``
    itself, without experiments). Errors, at the experiment's file:line: a name used twice, a
    ``rule`` the serving set lacks, an arm directory that does not load (or declares experiments
    of its own: arms do not nest). The version covers the arms' versions."""
    errors: list[RuleError] = []
    seen: dict[str, Experiment] = {}
    arms: dict[str, tuple[RuleSet, RuleSet]] = {}
    loaded: dict[Path, RuleSet] = {}
    for ex in experiments:
        if ex.name in seen:
            errors.append(RuleError(ex.file, ex.line, f"duplicate experiment name {ex.name!r} (first at "
                                                      f"{seen[ex.name].file}:{seen[ex.name].line})"))
            continue
        seen[ex.name] = ex
        if ex.rule is not None and ex.rule not in rules.by_id:
            errors.append(RuleError(ex.file, ex.line, f"rule: no rule {ex.rule!r} in {directory}"))
        pair = []
        for arm in ("a", "b"):
            where = ex.directory(arm, directory)
            if where is None:
                pair.append(rules)
                continue
            key = where.resolve()
            if key not in loaded:
                try:
                    loaded[key] = load_rules_dir(where, arm=True)
                except RuleLoadError as exc:
                    first = exc.errors[0]
                    more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
                    errors.append(RuleError(ex.file, ex.line, f"{arm}: the rules in {where} do not load: {first}{more}"))
                    break
            pair.append(loaded[key])
        if len(pair) == 2:
            arms[ex.name] = (pair[0], pair[1])
    if errors:
        raise RuleLoadError(errors)
    digest = hashlib.sha1(rules.version.encode())
    for name in sorted(arms):
        digest.update(f"\0{name}\0{arms[name][0].version}\0{arms[name][1].version}".encode())
    return replace(rules, version=digest.hexdigest()[:12], experiments=tuple(seen.values()),
                   arms=MappingProxyType(arms),
                   watched=tuple(sorted({str(k) for k in loaded})))
