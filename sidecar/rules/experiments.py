"""Experiments declared in rule files: two rule sets, a share of clients, a method, a window.

An experiment is written under ``experiments:`` in any rule file and loads with the rules: a
mistake is a ``file:line`` error and the last good set serves on. Its arms are rule directories
(``a`` defaults to ``.``, the rules serving now), loaded with it and reloaded with it.
What it covers is decided per request (``covers``); who sees which arm is ``experiments.assign``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

METHODS = ("ab", "interleave")


@dataclass(frozen=True)
class Experiment:
    """An experiment of a rule file: two rule directories, the share of traffic, the method (A/B
    or interleaving), the rule it is limited to and its time window."""
    name: str
    a: str  # a rule directory as written, relative to the rules' own ("." = the rules serving now)
    b: str
    share: float
    method: str  # "ab" | "interleave"
    rule: str | None  # covers only requests the serving rules match to this rule; None: all
    start: datetime | None
    end: datetime | None
    file: str
    line: int

    def directory(self, arm: str, rules_dir: Path) -> Path | None:
        """The arm's rule directory; None for "." (the serving rules themselves)."""
        written = self.a if arm == "a" else self.b
        return None if Path(written) == Path(".") else (Path(rules_dir) / written)

    def running(self, now: datetime) -> bool:
        """Whether ``now`` is inside the start/end window (start inclusive, end exclusive)."""
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)

    def covers(self, rule_id: str | None, now: datetime) -> bool:
        """Whether a request whose serving rule is ``rule_id`` takes part now."""
        return self.share > 0 and self.running(now) and (self.rule is None or self.rule == rule_id)

    def status(self) -> dict[str, Any]:
        """What /admin/rules and `sidecar rules check` show of it."""
        return {"name": self.name, "method": self.method, "share": self.share, "a": self.a, "b": self.b,
                "rule": self.rule, "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "where": f"{self.file}:{self.line}"}


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or time; naive ones are UTC. ValueError otherwise."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def parse_experiment(raw: dict[str, Any], file: str, line: int) -> tuple[Experiment | None, list[tuple[str, str]]]:
    """The experiment of a schema-valid mapping, or the (key, reason) of each problem the schema
    cannot see: a time that is not ISO 8601, an end not after the start, twice the same arm."""
    problems: list[tuple[str, str]] = []
    times: dict[str, datetime | None] = {}
    for key in ("start", "end"):
        try:
            times[key] = parse_time(raw[key]) if key in raw else None
        except ValueError:
            times[key] = None
            problems.append((key, f"{key}: {raw[key]!r} is not an ISO 8601 date or time (e.g. 2026-12-01 or "
                                  "2026-12-01T09:00:00Z)"))
    if times["start"] and times["end"] and times["end"] <= times["start"]:
        problems.append(("end", f"end: {raw['end']} is not after start {raw['start']}"))
    a = raw.get("a", ".")
    if Path(a) == Path(raw["b"]):
        problems.append(("b", f"b: the same directory as a ({a!r}): the arms would not differ"))
    if problems:
        return None, problems
    return Experiment(raw["name"], a, raw["b"], float(raw["share"]), raw.get("method", "ab"), raw.get("rule"),
                      times["start"], times["end"], file, line), []
