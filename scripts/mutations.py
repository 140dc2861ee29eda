"""Does the suite without OpenSearch catch these bugs? Each mutation is a one-line change that a
review found the standalone tests missed; this applies it to a throwaway git worktree of HEAD,
runs the named tests with OpenSearch unreachable and the fashion data absent, and says which test
failed (CAUGHT) or that none did (MISSED). Exit 1 when one is missed.

    .venv/bin/python scripts/mutations.py [NAME-SUBSTRING ...]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
B = "tests/test_boundaries.py::"
MUTATIONS = [
    ("the proxy's index allow-list switched off", "sidecar/server/policy/walk.py",
     "            if name not in self.indices:\n", "            if False and name not in self.indices:\n",
     ["tests/test_policy.py::test_only_the_allowed_indices_are_searched_whatever_the_spelling"]),
    ("regexp/wildcard/fuzzy queries allowed", "sidecar/server/policy/walk.py",
     "        if kind in COSTLY_QUERIES:\n            if not self.policy.allow_expensive:",
     "        if kind in COSTLY_QUERIES:\n            if False:",
     ["tests/test_policy.py::test_costly_text_queries_are_refused_unless_the_setting_opens_them"]),
    ("a rule's match.filters ignored", "sidecar/rules/ruleset.py",
     "        return all(fold(filters.get(k)) == fold(v) for k, v in (wanted or {}).items())",
     "        return True", ["tests/test_rules.py::test_match_filters_restrict_a_rule_to_requests_filtered_alike"]),
    ("a range's >= made >", "sidecar/rerank/properties/range.py", "                has &= x >= lo",
     "                has &= x > lo", ["tests/test_rerank_agents.py::test_a_range_holds_its_bounds_and_nothing_past_them"]),
    ("a range's <= made <", "sidecar/rerank/properties/range.py", "                has &= x <= hi",
     "                has &= x < hi", ["tests/test_rerank_agents.py::test_a_range_holds_its_bounds_and_nothing_past_them"]),
    ("exact-Jaccard shingle hashing made case-sensitive", "sidecar/rerank/tokens.py",
     "                    if 65 <= b <= 90:\n", "                    if 65 <= b <= 64:\n",
     ["tests/test_kernels.py::test_hashed_equals_the_hash_of_each_shingle_of_the_plain_shingle_set"]),
    ("a named value's cap not lifted", "sidecar/rerank/reranking.py",
     "    named = {f: v for f, v in (named or {}).items() if v} if rule.respect_query else {}",
     "    named = {}", ["tests/test_named.py::test_a_named_brand_is_not_capped_and_the_other_brands_still_are"]),
    ("a price band's lower edge counted in the band below", "sidecar/rerank/properties/bands.py",
     'side="right"', 'side="left"', ["tests/test_properties.py::test_bands_are_closed_below_and_open_above"]),
    ("MSD's cosine not clipped", "sidecar/rerank/strategies/msd.py",
     "        cos = min(max(dot32(vec, i, j), -one), one)", "        cos = dot32(vec, i, j) * np.float32(1.5)",
     ["tests/test_kernels.py::test_agents_over_every_vector_base_order_equal_the_reference"]),
    ("fusion ignoring how well BM25 matched", "sidecar/retrieval/fusion.py",
     "        share = match_share(text, [s.get(\"title\") for s in bm25.sources[:depth]], depth) if spec.adaptive else 1.0",
     "        share = 1.0", ["tests/test_fusion.py::test_words_the_titles_do_not_use_lean_on_knn_and_their_own_words_keep_bm25"]),
    # issue 38's list of boundary bugs
    ("has_next with <= made <", "sidecar/search/paging.py", "frm + 2 * size <= max_window", "frm + 2 * size < max_window",
     ["tests/test_boundaries.py"]),
    ("has_next with > made >=", "sidecar/search/paging.py", "len(ranked.placed) > frm + size", "len(ranked.placed) >= frm + size",
     ["tests/test_boundaries.py"]),
    ("from + size == max_window refused", "sidecar/search/paging.py", "    if frm + size > max_window:",
     "    if frm + size >= max_window:", ["tests/test_boundaries.py"]),
    ("knn k unbounded by the window", "sidecar/server/policy/walk.py",
     'out[key] = whole_number(value, f"{kind}.k", lo=1, hi=self.policy.max_window, setting="SIDECAR_MAX_WINDOW")',
     'out[key] = whole_number(value, f"{kind}.k", lo=1)', ["tests/test_boundaries.py"]),
    ("MAX_AGGS + 1 aggregations allowed", "sidecar/server/policy/aggregations.py", "            if self.aggs > MAX_AGGS:",
     "            if self.aggs > MAX_AGGS + 1:", ["tests/test_boundaries.py"]),
    ("an inverted filter range accepted", "sidecar/retrieval/filters.py",
     "            if low is not None and high is not None and (low > high", "            if False and (low > high",
     ["tests/test_newcomer.py::test_an_inverted_range_is_a_400"]),
    ("a facet counted under its own filter (not multi-select)", "sidecar/retrieval/memory.py",
     "                    others = {k: v for k, v in req.filters.items() if k != fld}",
     "                    others = dict(req.filters)",
     ["tests/test_newcomer.py::test_facets_are_multi_select_and_the_selected_count_is_the_total[memory]"]),
    ("a later window's original_rank counted within the window", "sidecar/search/paging.py",
     "position = {i: k + 1 for k, i in enumerate(r.hits.ids)}", "position = {i: k + 1 for k, i in enumerate(new.ids)}",
     [B + "test_a_later_windows_original_rank_is_its_place_in_retrieval"]),
    ("a facet range's upper bound made inclusive", "sidecar/retrieval/facets.py", "(b is None or e < b)",
     "(b is None or e <= b)", [B + "test_a_facet_range_excludes_its_upper_bound"]),
    ("terms facet ties left unordered", "sidecar/retrieval/facets.py", "key=lambda kv: (-kv[1], str(kv[0]))",
     "key=lambda kv: -kv[1]", [B + "test_terms_facet_ties_are_ordered_by_value_as_opensearch_does"]),
    ("weeks starting on Sunday", "sidecar/retrieval/facets.py", "d -= timedelta(days=d.weekday())",
     "d -= timedelta(days=(d.weekday() + 1) % 7)", [B + "test_weeks_start_on_monday"]),
    ("two rules listing one exact query: only the first tried", "sidecar/rules/ruleset.py",
     "for loc in self.exact.get(q, ()):", "for loc in self.exact.get(q, ())[:1]:",
     [B + "test_a_later_rule_listing_the_same_query_is_tried"]),
    ("the z-score not divided by the deviation", "sidecar/retrieval/fusion.py", "(s - s.mean()) / sd", "(s - s.mean())",
     [B + "test_the_z_score_is_divided_by_the_deviation"]),
    ("the match share over 20 places for a smaller window", "sidecar/retrieval/fusion.py",
     "depth = min(MATCH_DEPTH, window)", "depth = MATCH_DEPTH",
     [B + "test_the_match_share_reads_no_more_places_than_the_window"]),
    ("index allowed inside data parameters", "sidecar/server/policy/tables.py", '{"script", "index", "_index",',
     '{"script", "_index",', [B + "test_index_is_refused_inside_data_parameters"]),
    ("bool depth not counted", "sidecar/server/policy/walk.py", 'bools + (kind == "bool")', "bools",
     [B + "test_bool_nesting_is_counted"]),
    ("an unparseable event time accepted", "sidecar/server/routes/events.py",
     "                raise ValueError(f\"events[{i}].timestamp: {event['timestamp']!r} is not an ISO 8601 time\") from None",
     "                when = now", [B + "test_an_unparseable_event_time_is_refused"]),
    ("the action_name pattern unanchored", "sidecar/search/contract.py", '"pattern": "^[a-z][a-z0-9_]{0,63}$"',
     '"pattern": "[a-z][a-z0-9_]{0,63}"', [B + "test_the_action_name_pattern_is_anchored"]),
    ("the events batch unbounded", "sidecar/search/contract.py", '"maxItems": 1000}', '"maxItems": 100000}',
     [B + "test_an_events_batch_is_bounded"]),
    ("a pair exactly at the Jaccard threshold not joined", "sidecar/rerank/dedup.py",
     "return inter >= (threshold - 1e-12) * union", "return inter > threshold * union",
     [B + "test_a_pair_exactly_at_the_jaccard_threshold_is_joined"]),
    ("the text check's and made or", "sidecar/rerank/dedup.py", "if ptr[i + 1] > ptr[i] and ptr[j + 1] > ptr[j]:",
     "if ptr[i + 1] > ptr[i] or ptr[j + 1] > ptr[j]:", [B + "test_a_pair_with_one_text_missing_is_decided_by_the_signatures"]),
    ("pairs with stored signatures only never joined", "sidecar/rerank/dedup.py", "    return equal >= floor_sig",
     "    return False", [B + "test_pairs_with_signatures_only_are_joined_by_their_estimate"]),
    ("the digit 0 dropped from tokens", "sidecar/rerank/tokens.py", "            if (48 <= b <= 57) or",
     "            if (49 <= b <= 57) or", [B + "test_the_digit_zero_is_a_token"]),
    ("rule categories compared case-sensitively", "sidecar/rules/ruleset.py", "{fold(c) for c in cats}",
     "{c for c in cats}", [B + "test_rule_categories_compare_case_blind"]),
    ("an optional pattern group taken as required", "sidecar/rules/prefilter.py", "av[0] >= 1", "av[0] >= 0",
     [B + "test_an_optional_group_is_not_required_by_the_prefilter"]),
    ("a rewrite triggered by a word an earlier rewrite added skipped", "sidecar/understand/rewrites.py",
     "                    heapq.heappush(pending, later)", "                    pass",
     ["tests/test_rewrites.py::test_the_index_gives_what_applying_every_rewrite_in_order_gives"]),
    ("a two-way group's other members not searched", "sidecar/understand/rewrites.py",
     "        added = [s for s, ws in members if s not in present]", "        added = []",
     ["tests/test_rewrites.py::test_a_two_way_group_searches_every_other_member"]),
    ("a product type named by two different words guessed", "sidecar/understand/__init__.py",
     "    if len({n.value for n in named}) != 1:", "    if not named:",
     ["tests/test_product_types.py::test_the_query_names_one_type_or_none"]),
    ("a word the titles spread over types sent to the vote", "sidecar/understand/__init__.py",
     "            if i not in used and w not in FUNCTION_WORDS and singular(w) not in spread]",
     "            if i not in used and w not in FUNCTION_WORDS]",
     ["tests/test_product_types.py::test_a_word_the_titles_spread_over_types_is_not_sent_to_the_vote"]),
    ("the vote's share not required", "sidecar/understand/__init__.py",
     "    if got is None or got[1] < VOTE_SHARE:", "    if got is None:",
     ["tests/test_product_types.py::test_a_shoppers_words_name_a_type_by_the_vote_of_the_products_nearest_them"]),
]


def main() -> int:
    only = sys.argv[1:]
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), "HEAD"], cwd=ROOT, check=True)
        env = {**os.environ, "SIDECAR_OPENSEARCH_URL": "http://127.0.0.1:1", "SIDECAR_FASHION_DIR": str(Path(tmp) / "none"),
               "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        try:
            for name, file, old, new, tests in MUTATIONS:
                if only and not any(o in name for o in only):
                    continue
                path = tree / file
                source = path.read_text()
                if old not in source:
                    print(f"{name}: the line to mutate is gone from {file}; update this script")
                    missed += 1
                    continue
                path.write_text(source.replace(old, new, 1))
                try:
                    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                                         cwd=tree, env=env, capture_output=True, text=True)
                finally:
                    path.write_text(source)
                failed = [line.split(" - ")[0] for line in res.stdout.splitlines() if line.startswith("FAILED")]
                if res.returncode not in (0, 1):  # 4/5: a test named here is gone; 2/3: pytest broke
                    print(f"{name}: NOT RUN (pytest exit {res.returncode}): {res.stdout.strip()[-300:]}", flush=True)
                    missed += 1
                    continue
                print(f"{name}: " + (f"CAUGHT by {failed[0][len('FAILED '):]}" if failed else "MISSED"), flush=True)
                missed += not failed
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
