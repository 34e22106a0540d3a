"""Generate ``src/watchdogs/botodata``: the service models of :data:`watchdogs.clients.OPERATIONS`, cut down.

For each service, botocore's own ``service-2`` model (the installed version) keeps its metadata, the listed
operations and every shape they reach, without documentation. The result is what a client needs to serialise
those requests and parse their answers, at a fraction of the parsing cost. ``python -m watchdogs_local.botodata``
rewrites the files; ``tests/unit/test_botodata.py`` fails when they differ from what this would write.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from watchdogs.clients import BOTODATA, OPERATIONS

if TYPE_CHECKING:
    from pathlib import Path


def _reached(shapes: dict[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = [m["shape"] for m in shape.get("members", {}).values()]
        refs += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
        todo += refs
    return seen


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def trimmed(service: str, operations: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """(api version, the cut-down model) for ``service`` from the installed botocore."""
    import botocore.loaders  # noqa: PLC0415

    loader = botocore.loaders.create_loader()
    version = loader.determine_latest_version(service, "service-2")
    model = loader.load_service_model(service, "service-2", version)
    ops = {name: model["operations"][name] for name in sorted(operations)}
    roots = [ref["shape"] for op in ops.values() for key in ("input", "output") if (ref := op.get(key))]
    roots += [err["shape"] for op in ops.values() for err in op.get("errors", [])]
    names = _reached(model["shapes"], roots)
    body = {
        "version": model.get("version", "2.0"),
        "metadata": model["metadata"],
        "operations": ops,
        "shapes": {name: model["shapes"][name] for name in sorted(names)},
    }
    return version, _strip(body)


def render() -> dict[Path, str]:
    """Every file of ``botodata/``, by path: what :func:`main` writes and the sync test compares."""
    files: dict[Path, str] = {}
    for service, operations in OPERATIONS.items():
        version, body = trimmed(service, operations)
        files[BOTODATA / service / version / "service-2.json"] = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return files


def main() -> None:
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"wrote {path} ({len(text) // 1024} KB)")


if __name__ == "__main__":
    main()
