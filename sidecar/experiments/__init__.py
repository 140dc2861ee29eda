"""Experiments between rule sets: who sees which (``assign``), one page from two (``interleave``),
and what the clicks say (``stats``). Pure code: no I/O, no clock; the server, the event writer
and the report assemble these."""
