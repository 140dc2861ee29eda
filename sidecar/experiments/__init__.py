"""Experiments between rule sets: who sees which (``assign``), one page from two (``interleave``),
what the clicks say (``stats``, ``report``) and how many shoppers it takes (``simulate``) are pure
code: no I/O, no clock; ``identity`` mints and verifies page ids (its only outside input is the
random page number). ``serve`` runs an experiment's /search through the pipeline it is given,
and ``source`` reads an experiment's pages and events from OpenSearch for the report."""
