"""Evaluation harness: relevance against diversity, strategies compared, trade-off plots."""
