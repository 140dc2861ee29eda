"""The proxy policy's contract, case by case (scripts/policy_cases.py): for each of ~2,000 bodies
generated from the policy's own tables (every query, aggregation and option type, each parameter
with a number, a string, an object holding ``script`` and a list) and written by hand for structure
(nesting, budgets, histograms, inner hits, sort, highlight, suggest, rescore), the policy forwards
exactly the recorded body or refuses with exactly the recorded rule and message; no case may raise
anything else (a 500). Regenerate after a deliberate change and read the diff:
``.venv/bin/python scripts/policy_cases.py --write``."""
from __future__ import annotations

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import policy_cases  # noqa: E402

GOLDEN = json.loads((ROOT / "tests" / "data" / "policy_cases.json").read_text())


def test_the_cases_are_the_ones_the_tables_generate():
    generated = json.loads(json.dumps(policy_cases.cases(), default=str))
    assert [(c["body"], c["params"], c["policy"]) for c in GOLDEN["cases"]] == \
        [(c["body"], c["params"], c["policy"]) for c in generated], "the tables changed: run scripts/policy_cases.py --write"


def test_every_case_is_forwarded_or_refused_as_recorded():
    policies = policy_cases.policies()
    wrong = []
    for case in GOLDEN["cases"]:
        got = json.loads(json.dumps(policy_cases.outcome(policies[case["policy"]], case), default=str))
        want = {k: case[k] for k in ("forwarded", "refused", "error") if k in case}
        if got != want:
            wrong.append(f"{json.dumps(case['body'])[:200]}: recorded {json.dumps(want)[:200]}, now {json.dumps(got)[:200]}")
    assert not wrong, f"{len(wrong)} of {len(GOLDEN['cases'])} cases changed:\n" + "\n".join(wrong[:20])
    assert not any("error" in c for c in GOLDEN["cases"]), "a recorded case raised something other than PolicyRefused"


def test_index_names_are_allowed_or_refused_as_recorded():
    assert policy_cases.index_cases() == GOLDEN["indices"]
