"""OpenSearch Dashboards saved objects for the decision log and the shoppers' events (an index
pattern each, eight visualizations, one dashboard), for the log's index prefix
(SIDECAR_DECISION_LOG_INDEX) and the events index (SIDECAR_EVENTS_INDEX).

    sidecar dashboards > decisions.ndjson     # then import (docs/operations.md: "Inspecting decisions in Dashboards")
"""
from __future__ import annotations

import json
from typing import Any

from ..config import BY_NAME
from .decision_log import INDEX_PREFIX

INDEX_PATTERN_ID = "sidecar-decisions-pattern"
EVENTS_PATTERN_ID = "sidecar-events-pattern"
EVENTS_INDEX = BY_NAME["events_index"].default  # SIDECAR_EVENTS_INDEX's built-in default
REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

TABLE_PARAMS = {"perPage": 20, "showPartialRows": False, "showMetricsAtAllLevels": False,
                "sort": {"columnIndex": None, "direction": None}, "showTotal": False, "totalFunc": "sum", "percentageCol": ""}


def xy_params(kind: str) -> dict:
    return {
        "type": kind, "grid": {"categoryLines": False}, "addTooltip": True, "addLegend": True,
        "legendPosition": "right", "times": [], "addTimeMarker": False,
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                          "style": {}, "scale": {"type": "linear"}, "labels": {"show": True, "filter": True, "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "style": {}, "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100}, "title": {"text": "Count"}}],
        "seriesParams": [{"show": True, "type": kind if kind != "histogram" else "histogram", "mode": "normal",
                          "data": {"label": "Count", "id": "1"}, "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True,
                          "lineWidth": 2, "showCircles": True}],
    }


def agg(id_: str, type_: str, schema: str, **params) -> dict:
    return {"id": id_, "enabled": True, "type": type_, "schema": schema, "params": params}


VISUALIZATIONS = [
    ("sidecar-requests-per-rule", "Sidecar: requests per rule over time", "line", "",
     [agg("1", "count", "metric"),
      agg("2", "date_histogram", "segment", field="@timestamp", interval="auto", min_doc_count=1, extended_bounds={}),
      agg("3", "terms", "group", field="rule", size=20, order="desc", orderBy="1")]),
    ("sidecar-constraint-satisfaction", "Sidecar: constraint satisfaction rate per rule", "table", "outcome:ok",
     [agg("1", "avg", "metric", field="constraint_satisfaction"),
      agg("2", "terms", "bucket", field="rule", size=50, order="desc", orderBy="1")]),
    ("sidecar-items-moved", "Sidecar: items moved per page", "histogram", "outcome:ok",
     [agg("1", "count", "metric"),
      agg("2", "histogram", "segment", field="moved", interval=1, min_doc_count=False, extended_bounds={})]),
    ("sidecar-rerank-latency", "Sidecar: rerank latency percentiles (ms)", "table", "outcome:ok",
     [agg("1", "percentiles", "metric", field="rerank_ms", percents=[50, 95, 99]),
      agg("2", "percentiles", "metric", field="total_ms", percents=[50, 95, 99]),
      agg("3", "terms", "bucket", field="endpoint", size=5, order="desc", orderBy="_key")]),
    ("sidecar-default-rule-queries", "Sidecar: top queries falling to the default rule", "table", "rule_match:default",
     [agg("1", "count", "metric"),
      agg("2", "terms", "bucket", field="query", size=25, order="desc", orderBy="1")]),
    ("sidecar-error-outcomes", "Sidecar: error outcomes", "table", "outcome:error",
     [agg("1", "count", "metric"),
      agg("2", "terms", "bucket", field="status", size=20, order="desc", orderBy="1"),
      agg("3", "terms", "bucket", field="endpoint", size=5, order="desc", orderBy="1")]),
    ("sidecar-experiment-arms", "Sidecar: pages per experiment arm, and their constraint satisfaction", "table",
     "experiment:*",
     [agg("1", "count", "metric"),
      agg("2", "avg", "metric", field="constraint_satisfaction"),
      agg("3", "avg", "metric", field="dedup_collapsed"),
      agg("4", "terms", "bucket", field="experiment", size=20, order="desc", orderBy="1"),
      agg("5", "terms", "bucket", field="arm", size=3, order="desc", orderBy="1")]),
]
# over the events index (POST /events): what shoppers did, per action, over time
EVENT_VISUALIZATIONS = [
    ("sidecar-events-per-action", "Sidecar: shopper events per action over time", "line", "",
     [agg("1", "count", "metric"),
      agg("2", "date_histogram", "segment", field="timestamp", interval="auto", min_doc_count=1, extended_bounds={}),
      agg("3", "terms", "group", field="action_name", size=10, order="desc", orderBy="1")]),
]


def search_source(query: str) -> str:
    return json.dumps({"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": REF})


def saved_objects(prefix: str = INDEX_PREFIX, events: str = EVENTS_INDEX) -> list[dict[str, Any]]:
    """The saved objects: an index pattern over ``<prefix>-*`` with ``@timestamp`` as time field,
    one over the events index ``events`` with UBI's ``timestamp``, their visualizations, one dashboard."""
    objects = [{
        "id": INDEX_PATTERN_ID, "type": "index-pattern", "migrationVersion": {"index-pattern": "7.6.0"}, "references": [],
        "attributes": {"title": f"{prefix}-*", "timeFieldName": "@timestamp"},
    }, {
        "id": EVENTS_PATTERN_ID, "type": "index-pattern", "migrationVersion": {"index-pattern": "7.6.0"}, "references": [],
        "attributes": {"title": events, "timeFieldName": "timestamp"},
    }]
    panels, refs = [], []
    listed = [(v, INDEX_PATTERN_ID) for v in VISUALIZATIONS] + [(v, EVENTS_PATTERN_ID) for v in EVENT_VISUALIZATIONS]
    for i, ((vid, title, kind, query, aggs), pattern) in enumerate(listed):
        params = TABLE_PARAMS if kind == "table" else xy_params(kind)
        objects.append({
            "id": vid, "type": "visualization", "migrationVersion": {"visualization": "7.10.0"},
            "references": [{"id": pattern, "name": REF, "type": "index-pattern"}],
            "attributes": {"title": title, "description": "", "version": 1, "uiStateJSON": "{}",
                           "visState": json.dumps({"title": title, "type": kind, "params": params, "aggs": aggs}),
                           "kibanaSavedObjectMeta": {"searchSourceJSON": search_source(query)}},
        })
        panels.append({"panelIndex": str(i + 1), "gridData": {"x": 24 * (i % 2), "y": 15 * (i // 2), "w": 24, "h": 15,
                                                              "i": str(i + 1)},
                       "version": "2.0.0", "panelRefName": f"panel_{i}", "embeddableConfig": {}})
        refs.append({"name": f"panel_{i}", "type": "visualization", "id": vid})
    objects.append({
        "id": "sidecar-decisions-dashboard", "type": "dashboard", "migrationVersion": {"dashboard": "7.9.3"},
        "references": refs,
        "attributes": {"title": "SRP sidecar decisions", "description": "What the diversity sidecar decided, per rule",
                       "panelsJSON": json.dumps(panels), "optionsJSON": json.dumps({"hidePanelTitles": False, "useMargins": True}),
                       "version": 1, "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
                       "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"},
                                                                                 "filter": []})}},
    })
    return objects


def ndjson(prefix: str = INDEX_PREFIX, events: str = EVENTS_INDEX) -> str:
    """The saved objects as the NDJSON file the saved-objects import API takes."""
    return "".join(json.dumps(o) + "\n" for o in saved_objects(prefix, events))
