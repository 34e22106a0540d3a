"""``template.yaml`` as data: load it (CloudFormation short tags included), SAM-translate it offline, and read
back what IAM each function is granted.

The embedded emulator deploys :func:`translate_template`'s output into moto's CloudFormation; the template
tests assert on it. Nothing here calls AWS: the SAM transform runs in-process (``aws-sam-translator``, a
development dependency imported only when a translation is asked for), with an empty managed-policy map because
the template names no AWS managed policy by name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

#: where a local ``CodeUri`` (``src/``) is said to be after translation; ``sam build``/``sam deploy`` and the
#: emulator each put the real code in place of it
PLACEHOLDER_CODE_URI = "s3://lakehouse-watchdogs-local-artifacts/watchdogs.zip"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"

Template = dict[str, Any]


class TemplateError(ValueError):
    """The template cannot be loaded or SAM-translated (the SAM error messages are in the text)."""


def load_template(path: Path | str) -> Template:
    """Parse a CloudFormation/SAM YAML (or JSON) template into plain dicts; ``!Ref x`` becomes ``{"Ref": "x"}``."""
    import yaml  # noqa: PLC0415 - development dependency
    from samtranslator.yaml_helper import intrinsics_multi_constructor  # noqa: PLC0415

    # SafeLoader plus CloudFormation short-form intrinsics; a subclass, so the global SafeLoader stays untouched
    loader: Any = type("CfnLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    document = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a SafeLoader
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return document


def translate_template(
    path: Path | str,
    parameter_values: Mapping[str, str] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
    code_uri: str = PLACEHOLDER_CODE_URI,
) -> Template:
    """The CloudFormation the SAM transform makes of ``path`` (``AWS::Serverless::*`` expanded), offline.

    ``parameter_values`` are template parameters (strings, as CloudFormation passes them); defaults fill the rest.
    A local ``CodeUri`` is replaced by ``code_uri`` first, as ``sam package`` would. Raises :class:`TemplateError`
    with SAM's messages when the template is invalid.
    """
    import boto3  # noqa: PLC0415
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415
    from samtranslator.utils.py27hash_fix import (  # noqa: PLC0415
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    template = _with_code_uri(load_template(path), code_uri)
    parameters: dict[str, Any] = {"AWS::Region": region, "AWS::AccountId": account_id, **(parameter_values or {})}
    to_py27_compatible_template(template, parameters)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=parameters["AWS::Region"]))
    try:
        translated = translator.translate(template, parameter_values=parameters, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause.message) for cause in exc.causes)
        raise TemplateError(f"{path}: SAM transform failed: {causes}") from exc
    result: Template = undo_mark_unicode_str_in_template(translated)
    return result


def _with_code_uri(template: Template, code_uri: str) -> Template:
    template = copy.deepcopy(template)
    globals_function = template.get("Globals", {}).get("Function", {})
    if _is_local(globals_function.get("CodeUri")):
        globals_function["CodeUri"] = code_uri
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and _is_local(properties.get("CodeUri")):
            properties["CodeUri"] = code_uri
    return template


def _is_local(code_uri: Any) -> bool:
    return isinstance(code_uri, str) and not code_uri.startswith("s3://")


def function_logical_ids(cfn: Template) -> list[str]:
    """Logical ids of the ``AWS::Lambda::Function`` resources of a translated template."""
    return [lid for lid, res in cfn["Resources"].items() if res.get("Type") == "AWS::Lambda::Function"]


def granted_statements(cfn: Template, function_logical_id: str) -> list[dict[str, Any]]:
    """Every IAM statement a function's role holds in a translated template (intrinsics left unresolved).

    Collects the role's inline policies, the template's managed policies it lists in ``ManagedPolicyArns`` and
    the managed policies that attach themselves to it through ``Roles``. AWS managed policies (ARN strings such
    as ``AWSLambdaBasicExecutionRole``) are not statements of this template and are not returned.
    """
    resources: dict[str, Any] = cfn["Resources"]
    role_ref = resources[function_logical_id]["Properties"]["Role"]
    role_id = _logical_id(role_ref)
    if role_id is None or resources.get(role_id, {}).get("Type") != "AWS::IAM::Role":
        raise TemplateError(f"{function_logical_id}: its role is not a role of this template ({role_ref!r})")
    role = resources[role_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    attached = {_logical_id(arn) for arn in role.get("ManagedPolicyArns", [])}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::ManagedPolicy":
            continue
        roles = {_logical_id(ref) for ref in resource["Properties"].get("Roles", [])}
        if logical_id in attached or role_id in roles:
            documents.append(resource["Properties"]["PolicyDocument"])
    statements: list[dict[str, Any]] = []
    for document in documents:
        found = document.get("Statement", [])
        statements.extend(found if isinstance(found, list) else [found])
    return statements


def _logical_id(ref: Any) -> str | None:
    """``{"Ref": x}`` or ``{"Fn::GetAtt": [x, ...]}`` -> ``x``; anything else (an ARN string) -> None."""
    if isinstance(ref, dict):
        if isinstance(ref.get("Ref"), str):
            return str(ref["Ref"])
        getatt = ref.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt:
            return str(getatt[0])
    return None


__all__ = [
    "PLACEHOLDER_CODE_URI",
    "TemplateError",
    "function_logical_ids",
    "granted_statements",
    "load_template",
    "translate_template",
]
