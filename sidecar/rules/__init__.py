"""Per-query rules: the YAML format, validation with file:line, matching, hot reload."""
from .errors import RuleError, RuleLoadError
from .file_schema import schema
from .loader import check_draft, check_text, load_rules_dir
from .normalize import normalize_query
from .ruleset import Match, RuleSet
from .store import RuleStore

__all__ = ["RuleError", "RuleLoadError", "check_draft", "check_text", "load_rules_dir", "schema", "normalize_query",
           "Match", "RuleSet", "RuleStore"]
