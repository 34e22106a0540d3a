"""The Lambda package holds only the product.

Every function is deployed from ``CodeUri: src/`` (template.yaml), so whatever sits under src/ ships to Lambda and
runs where only the python3.13 runtime (with boto3) and the Powertools layer exist. The embedded emulator, demo,
invoker and moto extensions live in ``local/watchdogs_local/``, outside every CodeUri. These tests keep it so:
src/ holds only the ``watchdogs`` package, the product imports nothing that only development installs, and no
function's CodeUri reaches the local tooling.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from watchdogs_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
TEMPLATE = ROOT / "template.yaml"
LOCAL_PACKAGE = ROOT / "local" / "watchdogs_local"

#: what src/ may hold (requirements.txt is what `sam build` installs next to the code)
SRC_ENTRIES = {"watchdogs", "requirements.txt"}
#: never part of the shipped tree in git: byte code, and the metadata `pip install -e` writes into src/
BUILD_ARTIFACTS = ("__pycache__", ".egg-info")

#: what the Lambda environment provides at run time besides the standard library: boto3/botocore from the runtime,
#: Powertools and pydantic from the AWSLambdaPowertoolsPythonV3 layer. Anything else would be missing in Lambda.
RUNTIME_PACKAGES = {"watchdogs", "aws_lambda_powertools", "boto3", "botocore", "pydantic"}
#: type stubs (boto3-stubs) exist for the type checker only: allowed under ``if TYPE_CHECKING:`` and nowhere else
TYPE_CHECKING_PREFIXES = ("mypy_boto3_",)
#: development-only packages, refused anywhere in src/ (under TYPE_CHECKING too), named so a failure says why
DEV_ONLY = {
    "moto",
    "watchdogs_local",
    "requests",
    "responses",
    "werkzeug",
    "flask",
    "samtranslator",
    "yaml",
    "cfnlint",
    "pytest",
    "xdist",
    "pytest_timeout",
    "mypy",
    "ruff",
    "docker",
    "tests",
    "benchmarks",
}
#: in this interpreter's standard library but not in python3.13's (PEP 594), which the functions run on
REMOVED_BY_313 = {
    "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap", "msilib", "nis",
    "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
}  # fmt: skip
STDLIB = set(sys.stdlib_module_names) - REMOVED_BY_313


# ---------------------------------------------------------------------------------------------- the import walk
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(source: str, package: tuple[str, ...] = ("watchdogs",)) -> list[tuple[int, str, bool]]:
    """Every import in ``source`` as (line, top-level name, only under ``if TYPE_CHECKING:``).

    Function-level imports count, as do ``importlib.import_module("x")`` / ``__import__("x")`` with a literal
    name. ``package`` is the module's package (for relative imports).
    """
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0], typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, (node.module or "").split(".")[0], typing_only))
            else:  # relative: resolved against the module's package; climbing out of it is an error
                kept = len(package) - node.level + 1
                found.append((node.lineno, package[0] if kept >= 1 else "<outside the package>", typing_only))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            target = node.args[0].value
            if name in {"import_module", "__import__"} and isinstance(target, str) and not target.startswith("."):
                found.append((node.lineno, target.split(".")[0], typing_only))
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(ast.parse(source), False)
    return found


def violations(source: str, package: tuple[str, ...] = ("watchdogs",)) -> list[str]:
    """Why each import in ``source`` could not ship to Lambda (empty: all good)."""
    problems = []
    for line, name, typing_only in imports(source, package):
        if name in DEV_ONLY:
            problems.append(f"line {line}: imports {name}, a development-only package")
        elif name in STDLIB or name in RUNTIME_PACKAGES:
            continue
        elif name.startswith(TYPE_CHECKING_PREFIXES):
            if typing_only:
                continue
            problems.append(f"line {line}: imports the type stubs {name} at run time (only under TYPE_CHECKING)")
        else:
            problems.append(f"line {line}: imports {name}, which neither Lambda nor the Powertools layer provides")
    return problems


def _is_artifact(path: Path) -> bool:
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)


def product_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if not _is_artifact(p.relative_to(SRC)))


# ---------------------------------------------------------------------------------------------- the checker itself
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import moto", "moto, a development-only package"),
        ("from moto.server import ThreadedMotoServer", "moto, a development-only package"),
        ("def f():\n    from watchdogs_local import moto_ext", "watchdogs_local, a development-only package"),
        ("import importlib\nimportlib.import_module('requests.adapters')", "requests, a development-only"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import moto", "moto, a development-only"),
        ("import mypy_boto3_glue", "type stubs mypy_boto3_glue at run time"),
        ("import some_wheel_nobody_ships", "neither Lambda nor the Powertools layer provides"),
        ("import cgi", "neither Lambda nor the Powertools layer provides"),
        ("from ... import x", "<outside the package>"),
    ],
)
def test_the_checker_refuses(source: str, expected: str) -> None:
    found = violations(source, ("watchdogs", "handlers"))
    assert found, f"{source!r} passed"
    assert expected in found[0]


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations\nimport json, os.path\nfrom datetime import UTC",
        "import boto3\nfrom botocore.exceptions import ClientError\nfrom pydantic import BaseModel",
        "from aws_lambda_powertools import Logger\nfrom watchdogs.settings import Settings\nfrom . import engine",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mypy_boto3_glue import GlueClient\n",
        "import typing\nif typing.TYPE_CHECKING:\n    import mypy_boto3_sns\nelse:\n    import json",
    ],
)
def test_the_checker_accepts(source: str) -> None:
    assert violations(source, ("watchdogs", "handlers")) == []


def test_the_checker_treats_the_else_of_type_checking_as_run_time() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\nelse:\n    import mypy_boto3_sns"
    assert violations(source) == [
        "line 5: imports the type stubs mypy_boto3_sns at run time (only under TYPE_CHECKING)",
    ]


# ---------------------------------------------------------------------------------------------- src/ = the product
def test_src_holds_only_the_product_package() -> None:
    entries = {p.name for p in SRC.iterdir() if not _is_artifact(p.relative_to(SRC))}
    assert entries <= SRC_ENTRIES, f"src/ ships to Lambda (CodeUri: src/); move {sorted(entries - SRC_ENTRIES)} out"
    assert (SRC / "watchdogs" / "__init__.py").is_file()


def test_the_local_tooling_lives_outside_src() -> None:
    assert (LOCAL_PACKAGE / "__init__.py").is_file()
    assert not [p for p in SRC.rglob("*") if p.name in {"watchdogs_local", "moto_ext"}]


def test_every_product_module_is_walked() -> None:
    modules = {p.relative_to(SRC).as_posix() for p in product_modules()}
    assert {"watchdogs/__init__.py", "watchdogs/engine.py", "watchdogs/handlers/glue.py"} <= modules
    assert all(m.startswith("watchdogs/") for m in modules)


@pytest.mark.parametrize("module", product_modules(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_product_module_imports_only_what_lambda_provides(module: Path) -> None:
    package = module.relative_to(SRC).parent.parts
    problems = violations(module.read_text(encoding="utf-8"), package)
    assert problems == [], f"{module.relative_to(ROOT)}: " + "; ".join(problems)


# ---------------------------------------------------------------------------------------------- template CodeUris
@cache
def _template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def code_uris() -> dict[str, Any]:
    """Every code location the template ships: Globals.Function.CodeUri and each function's (own or inherited)."""
    template = _template()
    default = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    found: dict[str, Any] = {"Globals.Function": default} if default is not None else {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "InlineCode" not in properties:
            found[logical_id] = properties.get("CodeUri", default)
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            found[logical_id] = properties.get("ContentUri")
    return found


def test_the_template_ships_code() -> None:
    assert [lid for lid in code_uris() if lid != "Globals.Function"], "no function found in template.yaml"


@pytest.mark.parametrize("logical_id", sorted(code_uris()))
def test_code_uri_does_not_ship_the_local_tooling(logical_id: str) -> None:
    code_uri = code_uris()[logical_id]
    assert isinstance(code_uri, str), f"{logical_id}: CodeUri {code_uri!r} is not a local directory"
    assert not code_uri.startswith("s3://"), f"{logical_id}: CodeUri {code_uri!r} is not a local directory"
    code_dir = (TEMPLATE.parent / code_uri).resolve()
    assert code_dir.is_dir(), f"{logical_id}: CodeUri {code_uri!r} is not a directory"
    assert not LOCAL_PACKAGE.resolve().is_relative_to(code_dir), f"{logical_id}: CodeUri {code_uri!r} ships local/"
    shipped = [p for p in code_dir.rglob("watchdogs_local") if not _is_artifact(p.relative_to(code_dir))]
    assert shipped == [], f"{logical_id}: CodeUri {code_uri!r} ships {shipped}"
