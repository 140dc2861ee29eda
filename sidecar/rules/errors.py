"""What a rule set that cannot be used reports: each problem as ``file:line: reason``."""
from __future__ import annotations

from dataclasses import dataclass

NOT_A_DIRECTORY = "not a directory of rule files (--rules or SIDECAR_RULES names it)"


@dataclass(frozen=True)
class RuleError:
    """One problem of a rule file, at its line (0: the file as a whole)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class RuleLoadError(Exception):
    """A rule set that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))
