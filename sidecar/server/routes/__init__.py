"""The blueprints, one module each: a new endpoint is a new module listed here."""
from . import admin, events, experiments, inspect, ops, proxy, search

BLUEPRINTS = (search.bp, events.bp, proxy.bp, ops.bp, admin.bp, inspect.bp, experiments.bp)
