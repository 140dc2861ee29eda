"""What a constraint's property is, as the registry (``properties/__init__.py``) holds it."""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from ..batch import Column


class Property:
    """One kind of property of an item, selected in a constraint by its ``keys``.

    ``schema``: the JSON Schema of each key (the rule file's schema is built from these);
    ``example``: a constraint that uses it over the warm-up batch's fields (``warmup.py`` compiles
    every property with it). ``per_value``: one agent per value (``evaluate`` returns value
    codes, -1 = missing, and the constraint is a max); else ``evaluate`` returns a bool per item.
    ``by_value``: the answer depends on the field's values one by one, so a value the query names
    can be left alone (``named.py``); ``listed`` are the values a min asks for.
    """

    keys: ClassVar[frozenset[str]]
    schema: ClassVar[dict[str, dict[str, Any]]]
    example: ClassVar[dict[str, Any]]
    per_value: ClassVar[bool] = False
    by_value: ClassVar[bool] = False

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Property:
        """The property of a constraint mapping (its keys are ``keys``); raises ValueError naming
        ``where`` for a value the schema cannot catch."""
        raise NotImplementedError

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """The property as explanations show it, from the constraint mapping (before parsing:
        error messages name a constraint by its label)."""
        raise NotImplementedError

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Per item: whether it has the property (bool), or for a per-value property its value code
        (-1: none). ``now`` anchors relative dates; the core reads no clock."""
        raise NotImplementedError

    def n_values(self, column: Column) -> int:
        """Per-value properties: how many value codes ``evaluate`` can return."""
        return len(column.dictionary)

    @property
    def listed(self) -> tuple[Any, ...]:
        """The values the constraint names (a named value's cap yields to a query that names it)."""
        return ()
