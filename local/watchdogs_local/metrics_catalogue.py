"""Which metrics the code emits (and with which dimensions) against which metrics the dashboard plots.

A CloudWatch ``SEARCH('{Namespace,k1,k2} MetricName="X"')`` matches only metrics whose dimension set is exactly
``{k1, k2}``: a widget whose schema names other keys stays empty, silently. Three readings are compared:

* :func:`emitted_catalogue` -- every ``count(...)`` / ``record(...)`` / ``metrics.add_metric(name=...)`` call under
  ``src/watchdogs`` (AST), with the dimension keys it passes plus ``service``, which Powertools adds to every blob;
* :func:`dashboard_metrics` -- every metric of every widget of the template's dashboard;
* :func:`emf_metrics` -- the EMF lines a run actually printed (the embedded emulator's router captures them).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs.observability import NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Iterable

ROOT = Path(__file__).resolve().parents[2]
#: what Powertools adds to every blob it flushes (POWERTOOLS_SERVICE_NAME / Metrics(service=...))
ALWAYS = frozenset({"service"})
_SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}\s*(?P<terms>[^']*)'")


@dataclass(frozen=True)
class Emitted:
    """A metric the code emits: its name (a regex when built from an f-string) and its dimension keys."""

    name: str
    dimensions: frozenset[str]
    where: str

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.name, name) is not None


@dataclass(frozen=True)
class Plotted:
    """A metric a dashboard widget plots: its namespace, name and dimension keys."""

    widget: str
    namespace: str
    name: str
    dimensions: frozenset[str]


def emitted_catalogue(source: Path = ROOT / "src" / "watchdogs") -> list[Emitted]:
    """Every metric emitted through :func:`watchdogs.observability.count` or ``record`` (as imported by name)."""
    found: list[Emitted] = []
    for path in sorted(source.rglob("*.py")):
        if path.name == "observability.py":  # the emitters themselves, called with their callers' names
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        emitters = _emitters(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(source.parent)}:{node.lineno}"
            if isinstance(node.func, ast.Name) and node.func.id in emitters:
                keys = frozenset(k.arg for k in node.keywords if k.arg is not None) | ALWAYS
                found += [Emitted(name, keys, where) for name in _names(node.args[0])]
            elif _is_shared_blob(node):  # metrics.add_metric(name=...): the shared blob, service only
                named = next(k.value for k in node.keywords if k.arg == "name")
                found += [Emitted(name, ALWAYS, where) for name in _names(named)]
    return found


def _is_shared_blob(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "add_metric"
        and isinstance(func.value, ast.Name)
        and func.value.id == "metrics"
        and any(k.arg == "name" for k in call.keywords)
    )


def _emitters(tree: ast.Module) -> set[str]:
    """Local names of ``count`` / ``record`` imported from ``watchdogs.observability`` in one module."""
    return {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "watchdogs.observability"
        for alias in node.names
        if alias.name in {"count", "record"}
    }


def _names(node: ast.expr) -> list[str]:
    """Regexes of the metric names an expression can evaluate to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [re.escape(node.value)]
    if isinstance(node, ast.IfExp):
        return _names(node.body) + _names(node.orelse)
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else "[A-Za-z]+" for v in node.values]
        return ["".join(parts)]
    raise ValueError(f"line {node.lineno}: a metric name the catalogue cannot read; emit a literal or an f-string")


def dashboard_metrics(cfn: dict[str, Any]) -> list[Plotted]:
    """Every metric of the template's ``Dashboard`` (``${...}`` substitutions replaced by placeholders)."""
    body = cfn["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    text = text[0] if isinstance(text, list) else text
    document = json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", text))
    plotted: list[Plotted] = []
    for widget in document["widgets"]:
        title = widget["properties"].get("title", "")
        for row in widget["properties"].get("metrics", []):
            plotted += _row(title, row)
    return plotted


def _row(title: str, row: list[Any]) -> list[Plotted]:
    if row and isinstance(row[0], dict) and "expression" in row[0]:
        match = _SEARCH.search(row[0]["expression"])
        if match is None:
            return []
        namespace, *keys = (part.strip() for part in match["schema"].split(","))
        names = re.findall(r'MetricName="([^"]+)"', match["terms"].replace('\\"', '"'))
        return [Plotted(title, namespace, name, frozenset(keys)) for name in names]
    values = [item for item in row if not isinstance(item, dict)]
    namespace, name, *pairs = values
    return [Plotted(title, namespace, name, frozenset(pairs[0::2]))]


def unmatched(plotted: Iterable[Plotted], catalogue: list[Emitted]) -> list[Plotted]:
    """The watchdogs' own widget metrics no emitted metric matches (name and exact dimension set)."""
    return [
        p
        for p in plotted
        if p.namespace == NAMESPACE and not any(e.matches(p.name) and e.dimensions == p.dimensions for e in catalogue)
    ]


def emf_metrics(lines: Iterable[str]) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric name, dimension keys) of every EMF blob among ``lines`` (other lines are skipped)."""
    seen: set[tuple[str, str, frozenset[str]]] = set()
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", [[]]):
                for metric in directive.get("Metrics", []):
                    seen.add((directive["Namespace"], metric["Name"], frozenset(dimension_set)))
    return seen


__all__ = ["Emitted", "Plotted", "dashboard_metrics", "emf_metrics", "emitted_catalogue", "unmatched"]
