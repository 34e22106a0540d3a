"""template.yaml is the contract between the code and AWS: handlers resolve, every setting is declared, IAM is
scoped, rules filter on the scope, the SAM transform yields the stack we expect, and samconfig / env/local.json
agree with it. No network: the SAM transform runs in-process."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from watchdogs.settings import Settings, load_settings
from watchdogs.timers import TIMER_PERMISSIONS
from watchdogs_local.template import function_logical_ids, granted_statements, load_template, translate_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"

FUNCTIONS = {
    "GlueCrawlerWatchdogFunction": "watchdogs.handlers.glue.lambda_handler",
    "AthenaQueryWatchdogFunction": "watchdogs.handlers.athena.lambda_handler",
    "StepFunctionsWatchdogFunction": "watchdogs.handlers.states.lambda_handler",
    "SweepFunction": "watchdogs.handlers.sweep.lambda_handler",
}
#: variables the template may set beyond the Settings aliases: Powertools' own, and the endpoint sam local overrides
EXTRA_VARIABLES = {"LOG_LEVEL", "AWS_ENDPOINT_URL", "PYDANTIC_DISABLE_PLUGINS"}
#: settings the Lambda runtime provides (reserved: a template may not set them)
RUNTIME_VARIABLES = {"AWS_REGION"}
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "BatchGet")
#: runbook-shaped sandbox parameters (as samconfig.toml's [sandbox] passes them)
SANDBOX = {
    "CrawlerPrefixes": "lakehouse-sandbox-",
    "StateMachineNamePrefixes": "lakehouse-mvp-sandbox-,lakehouse-sandbox-",
    "Workgroups": "lakehouse-sandbox-workgroup,lakehouse-mvp-sandbox-workgroup",
    "MetadataTableName": "lakehouse-sandbox-pipeline-metadata",
}
SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
SM_PREFIXES = SANDBOX["StateMachineNamePrefixes"].split(",")


# ---------------------------------------------------------------------------------------------- helpers
@cache
def _template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@cache
def _translated(metadata_table: str = "") -> dict[str, Any]:
    return translate_template(TEMPLATE, {"MetadataTableName": metadata_table})


def template() -> dict[str, Any]:
    return json.loads(json.dumps(_template()))  # a copy: tests never share mutations


def serverless_functions() -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template()["Resources"].items() if res["Type"] == "AWS::Serverless::Function"}


def function_environment(logical_id: str) -> dict[str, Any]:
    """Globals' variables merged with the function's own (as SAM merges them)."""
    variables = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    own = serverless_functions()[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**variables, **own}


def parameter_values(**overrides: str) -> dict[str, str]:
    values = {name: str(p.get("Default", "")) for name, p in template()["Parameters"].items()}
    return {**values, **overrides}


def resolve(node: Any, params: dict[str, str]) -> Any:
    """Evaluate the intrinsics this template uses, for given parameters (resources become placeholders)."""
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": "lakehouse-watchdogs-test",
        "AWS::NoValue": None,
    }
    physical = {"AlertTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:watchdogs-alerts"}

    def ref(name: str) -> Any:
        if name in params:
            return params[name]
        if name in pseudo:
            return pseudo[name]
        return physical.get(name, f"{name}-physical-id")

    def sub(text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return f"<{name}>"
            return str(ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def condition(name: str) -> bool:
        return bool(evaluate(template()["Conditions"][name]))

    def evaluate(value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (evaluate(item) for item in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return ref(arg)
            if key == "Fn::Sub":
                return sub(arg, {}) if isinstance(arg, str) else sub(arg[0], evaluate(arg[1]))
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in evaluate(arg[1]))
            if key == "Fn::Split":
                return evaluate(arg[1]).split(arg[0])
            if key == "Fn::Select":
                return evaluate(arg[1])[int(arg[0])]
            if key == "Fn::GetAtt":
                return f"<{'.'.join(arg)}>"
            if key == "Fn::Equals":
                left, right = evaluate(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::If":
                return evaluate(arg[1] if condition(arg[0]) else arg[2])
            if key == "Condition":
                return condition(arg)
        return {k: evaluate(v) for k, v in value.items()}

    return evaluate(node)


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement.get("Resource", [])
    return resource if isinstance(resource, list) else [resource]


def granted(function_id: str, params: dict[str, str] | None = None) -> dict[str, set[str]]:
    """IAM action -> resolved resources, for one function of the translated template."""
    cfn = _translated(SANDBOX["MetadataTableName"])
    values = parameter_values(**{**SANDBOX, **(params or {})})
    result: dict[str, set[str]] = {}
    for statement in granted_statements(cfn, function_id):
        resources = {str(r) for r in resolve(resources_of(statement), values)}
        for action in actions_of(statement):
            result.setdefault(action, set()).update(resources)
    return result


def event_rules() -> dict[str, dict[str, Any]]:
    """(function logical id, event id) -> event properties, for every EventBridgeRule/Schedule event."""
    rules = {}
    for function_id, resource in serverless_functions().items():
        for event_id, event in resource["Properties"].get("Events", {}).items():
            rules[f"{function_id}.{event_id}"] = event
    return rules


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge matching for the pattern features the template uses (exact values, prefix, nesting)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    return any(
        value.startswith(option["prefix"]) if isinstance(option, dict) else value == option for option in pattern
    )


# ---------------------------------------------------------------------------------------------- code <-> template
@pytest.mark.parametrize(("function_id", "handler"), FUNCTIONS.items())
def test_handler_resolves_under_code_uri(function_id: str, handler: str) -> None:
    # Given the function's handler and its CodeUri (its own, else the Globals one)
    props = serverless_functions()[function_id]["Properties"]
    assert props["Handler"] == handler
    code_uri = props.get("CodeUri", template()["Globals"]["Function"]["CodeUri"])
    # When the dotted path is resolved under CodeUri, as the Lambda runtime does
    module, attribute = handler.rsplit(".", 1)
    source = ROOT / code_uri / (module.replace(".", "/") + ".py")
    # Then the module exists and defines the handler at top level
    assert source.is_file(), f"{handler}: {source.relative_to(ROOT)} does not exist"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert attribute in defined, f"{source.relative_to(ROOT)} defines no {attribute}"


def test_template_declares_exactly_the_functions_the_code_has() -> None:
    assert set(serverless_functions()) == set(FUNCTIONS)


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_environment_declares_every_setting_and_nothing_unknown(function_id: str) -> None:
    # Given the settings model (aliases are variable names) and the function's environment
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    environment = function_environment(function_id)
    # Then every setting is declared, except what the runtime provides (and a template may not set) ...
    # (every function makes timers: stuck timers in the event functions, step timers in all four)
    assert aliases - set(environment) == RUNTIME_VARIABLES
    assert not RUNTIME_VARIABLES & set(environment)
    # ... and every declared variable is read by something
    unknown = {
        name
        for name in environment
        if name not in aliases and name not in EXTRA_VARIABLES and not name.startswith("POWERTOOLS_")
    }
    assert unknown == set()
    # and the endpoint override is empty in AWS (boto3 ignores an empty AWS_ENDPOINT_URL)
    assert environment["AWS_ENDPOINT_URL"] == ""


@pytest.mark.parametrize("overrides", [{}, SANDBOX], ids=["defaults", "sandbox"])
def test_environment_with_template_parameters_is_valid_settings(overrides: dict[str, str]) -> None:
    # Given the environment the template produces for the default (or the sandbox) parameters
    environment = resolve(function_environment("SweepFunction"), parameter_values(**overrides))
    # When the watchdogs load their settings from it
    settings = load_settings({k: str(v) for k, v in environment.items()})
    # Then it validates, and the scope is the configured one, as ARN prefixes in this account and region
    assert settings.crawler_prefixes == parameter_values(**overrides)["CrawlerPrefixes"].split(",")
    assert settings.workgroups == parameter_values(**overrides)["Workgroups"].split(",")
    names = parameter_values(**overrides)["StateMachineNamePrefixes"].split(",")
    assert set(settings.state_machine_arn_prefixes) == {SM_ARN + name for name in names}
    assert settings.query_stuck_seconds < 30 * 60


def test_query_threshold_cannot_reach_athenas_dml_timeout() -> None:
    parameter = template()["Parameters"]["QueryStuckSeconds"]
    assert int(parameter["Default"]) <= int(parameter["MaxValue"]) < 30 * 60


# ---------------------------------------------------------------------------------------------- IAM
def test_no_mutating_action_is_granted_on_every_resource() -> None:
    # Given every IAM statement of the translated stack (roles' inline policies and managed policies)
    cfn = _translated(SANDBOX["MetadataTableName"])
    statements = [s for fid in function_logical_ids(cfn) for s in granted_statements(cfn, fid)]
    assert statements
    # Then no statement grants a wildcard action, and only read-only actions may have Resource "*"
    for statement in statements:
        assert statement.get("Effect") == "Allow"
        for action in actions_of(statement):
            name = action.split(":", 1)[1]
            assert "*" not in name, f"wildcard action {action}"
            if "*" in resources_of(statement):
                assert name.startswith(READ_ONLY_PREFIXES), f"mutating {action} on '*'"


def test_glue_watchdog_acts_only_on_in_scope_crawlers() -> None:
    crawler = f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/lakehouse-sandbox-*"
    grants = granted("GlueCrawlerWatchdogFunction")
    for action in ("glue:GetCrawler", "glue:GetTags", "glue:StopCrawler", "glue:StartCrawler"):
        assert grants[action] == {crawler}
    assert not any(a.startswith(("states:", "athena:")) for a in grants)


def test_crawler_scope_holds_every_configured_prefix() -> None:
    # Given three crawler prefixes (the most the parameter allows)
    grants = granted("GlueCrawlerWatchdogFunction", {"CrawlerPrefixes": "aaa-,bbb-,ccc-"})
    # Then each is granted, and nothing else
    expected = {f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{p}*" for p in ("aaa-", "bbb-", "ccc-")}
    assert grants["glue:StopCrawler"] == expected


def test_athena_watchdog_acts_only_in_in_scope_workgroups() -> None:
    workgroups = {f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{w}" for w in SANDBOX["Workgroups"].split(",")}
    grants = granted("AthenaQueryWatchdogFunction")
    for action in ("athena:GetQueryExecution", "athena:StopQueryExecution", "athena:GetWorkGroup"):
        assert grants[action] == workgroups
    assert not any(a.startswith("glue:") for a in grants)
    # of Step Functions, only the reads that tell which in-scope run owns a failed query (one root cause, one alert)
    executions = {f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{p}*:*" for p in SM_PREFIXES}
    assert {a for a in grants if a.startswith("states:")} == {
        "states:ListStateMachines",
        "states:ListExecutions",
        "states:GetExecutionHistory",
    }
    assert grants["states:GetExecutionHistory"] == executions


def test_pipeline_watchdog_heals_what_the_pipeline_waits_on() -> None:
    # Given the pipeline watchdog's grants
    grants = granted("StepFunctionsWatchdogFunction")
    executions = {f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{p}*:*" for p in SM_PREFIXES}
    # Then it stops/redrives only in-scope executions ...
    assert grants["states:StopExecution"] == executions
    assert grants["states:RedriveExecution"] == executions
    # ... holds everything the crawler and query watchdogs hold ...
    for other in ("GlueCrawlerWatchdogFunction", "AthenaQueryWatchdogFunction"):
        assert set(granted(other)) <= set(grants)
    # ... and reconciles only the configured metadata table
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/lakehouse-sandbox-pipeline-metadata"
    assert grants["dynamodb:UpdateItem"] >= {table}
    assert grants["dynamodb:Query"] >= {table, f"{table}/index/*"}


def test_sweep_holds_the_union_plus_discovery() -> None:
    sweep = granted("SweepFunction")
    # (but the stuck timers: the event functions make them, the sweep only answers them)
    assert set(granted("StepFunctionsWatchdogFunction")) - set(TIMER_PERMISSIONS) <= set(sweep)
    assert sweep["states:ListExecutions"] == {f"{SM_ARN}{p}*" for p in SM_PREFIXES}
    assert sweep["glue:GetCrawlers"] == {"*"}


def test_metadata_permission_exists_only_with_a_metadata_table() -> None:
    # Given no metadata table, the reconcile policy is conditional and grants nothing
    cfn = _translated("")
    policy = cfn["Resources"]["MetadataReconcilePolicy"]
    assert policy["Condition"] == "HasMetadataTable"
    assert resolve({"Fn::If": ["HasMetadataTable", True, False]}, parameter_values()) is False
    # and every other statement on a DynamoDB table names this stack's tables
    for fid in function_logical_ids(cfn):
        for statement in granted_statements(cfn, fid):
            if str(statement.get("Sid", "")).startswith("PipelineMetadata"):
                continue
            for resource in resolve(resources_of(statement), parameter_values()):
                assert ":table/" not in str(resource)


# ---------------------------------------------------------------------------------------------- EventBridge
def test_rules_filter_on_the_scope_parameters() -> None:
    # Given the rule events, resolved with the runbook's sandbox names
    rules = event_rules()
    values = parameter_values(**SANDBOX)
    glue = resolve(rules["GlueCrawlerWatchdogFunction.CrawlerStateChange"]["Properties"]["Pattern"], values)
    athena = resolve(rules["AthenaQueryWatchdogFunction.QueryStateChange"]["Properties"]["Pattern"], values)
    states = resolve(rules["StepFunctionsWatchdogFunction.ExecutionStatusChange"]["Properties"]["Pattern"], values)
    # Then each rule filters on its scope parameter, in the rule (not in code)
    assert glue["source"] == ["aws.glue"]
    assert {o["prefix"] for o in glue["detail"]["crawlerName"]} == {"lakehouse-sandbox-"}
    assert set(glue["detail"]["state"]) == {"Started", "Succeeded", "Failed"}
    assert athena["detail"]["workgroupName"] == SANDBOX["Workgroups"].split(",")
    # (QUEUED/RUNNING and a run's RUNNING start the stuck timers: docs/timers.md)
    assert set(athena["detail"]["currentState"]) == {"QUEUED", "RUNNING", "FAILED", "CANCELLED", "SUCCEEDED"}
    assert {o["prefix"] for o in states["detail"]["stateMachineArn"]} == {
        SM_ARN + "lakehouse-mvp-sandbox-",
        SM_ARN + "lakehouse-sandbox-",
    }
    assert set(states["detail"]["status"]) == {"RUNNING", "FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"}
    # and the raw template references the parameters (nothing hard-coded to one environment)
    raw = json.dumps(rules)
    for parameter in ("CrawlerPrefixes", "Workgroups", "StateMachineNamePrefixes", "SweepRateMinutes"):
        assert parameter in raw


@pytest.mark.parametrize("rule", ["GlueCrawlerWatchdogFunction.CrawlerStateChange",
                                  "AthenaQueryWatchdogFunction.QueryStateChange",
                                  "StepFunctionsWatchdogFunction.ExecutionStatusChange",
                                  "SweepFunction.Schedule"])  # fmt: skip
def test_every_rule_retries_and_dead_letters(rule: str) -> None:
    props = event_rules()[rule]["Properties"]
    assert props["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 60
    assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}


@pytest.mark.parametrize(("minutes", "expression"), [("1", "rate(1 minute)"), ("5", "rate(5 minutes)")])
def test_sweep_schedule_rate(minutes: str, expression: str) -> None:
    schedule = event_rules()["SweepFunction.Schedule"]["Properties"]["Schedule"]
    assert resolve(schedule, parameter_values(SweepRateMinutes=minutes)) == expression


def test_sample_events_route_to_one_rule_each() -> None:
    # Given the sample events and the rules resolved with the template's default (sandbox) parameters
    values = parameter_values()
    patterns = {
        rule: resolve(event["Properties"]["Pattern"], values)
        for rule, event in event_rules().items()
        if event["Type"] == "EventBridgeRule"
    }
    samples = [json.loads(p.read_text(encoding="utf-8")) | {"_file": p.name} for p in (ROOT / "events").glob("*.json")]
    # the schedule's own event, and a timer's input (Scheduler invokes the function directly), are not matched
    samples = [s for s in samples if s.get("source") not in {"aws.events", "watchdogs.timer"}]
    if not samples:
        pytest.skip("no sample events yet")
    routed: Counter[str] = Counter()
    for event in samples:
        # When matched against every rule
        matched = [rule for rule, pattern in patterns.items() if matches(pattern, event)]
        # Then at most one rule routes it; one routed nowhere is in a state the rules leave to the sweep
        assert len(matched) <= 1, f"{event['_file']} matches {matched}"
        if not matched:
            detail = event.get("detail", {})
            state = detail.get("status") or detail.get("currentState") or detail.get("state")
            assert state in {"RUNNING", "QUEUED"}, f"{event['_file']} ({state}) matches no rule"
        routed.update(matched)
    # and every rule routes some sample
    assert set(routed) == set(patterns)


# ---------------------------------------------------------------------------------------------- SAM transform
def test_sam_transform_yields_the_expected_stack() -> None:
    # When the template is SAM-translated offline
    cfn = _translated(SANDBOX["MetadataTableName"])
    types = Counter(resource["Type"] for resource in cfn["Resources"].values())
    # Then the stack has what the watchdogs need
    assert types["AWS::Lambda::Function"] == 4
    assert types["AWS::Events::Rule"] == 4
    assert types["AWS::Lambda::Permission"] == 4
    assert types["AWS::DynamoDB::Table"] == 1  # incidents (de-duplication is its claim's)
    assert types["AWS::SNS::Topic"] == 2  # incident alerts, and the stack's own alarms (operations)
    assert types["AWS::SQS::Queue"] == 1
    assert types["AWS::Logs::LogGroup"] == 4
    assert types["AWS::CloudWatch::Alarm"] == 7
    assert types["AWS::CloudWatch::Dashboard"] == 1
    assert types["AWS::Lambda::EventInvokeConfig"] == 4
    assert not any(t.startswith("AWS::Serverless::") for t in types)


def test_failed_invocations_and_undeliverable_events_reach_the_dead_letter_queue() -> None:
    cfn = _translated("")
    resources = cfn["Resources"]
    dlq = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
            assert resource["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == dlq
        if resource["Type"] == "AWS::Events::Rule":
            assert all(target["DeadLetterConfig"]["Arn"] == dlq for target in resource["Properties"]["Targets"])
    # and the queue policy lets exactly the stack's rules dead-letter into it
    statement = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    allowed = {arn["Fn::GetAtt"][0] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    rules = {lid for lid, res in resources.items() if res["Type"] == "AWS::Events::Rule"}
    assert allowed == rules


def test_every_function_logs_to_its_own_encrypted_log_group() -> None:
    cfn = _translated("")
    for function_id in function_logical_ids(cfn):
        props = cfn["Resources"][function_id]["Properties"]
        group = cfn["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert "KmsKeyId" in group
        assert "RetentionInDays" in group
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Runtime"] == "python3.13"


LAYER = "layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27"


@pytest.mark.parametrize(
    ("partition", "region", "expected"),
    [
        ("aws", "us-east-1", f"arn:aws:lambda:us-east-1:017000801446:{LAYER}"),
        ("aws", "eu-west-1", f"arn:aws:lambda:eu-west-1:017000801446:{LAYER}"),
        ("aws-cn", "cn-north-1", f"arn:aws-cn:lambda:cn-north-1:498634801083:{LAYER}"),
        ("aws-us-gov", "us-gov-west-1", f"arn:aws-us-gov:lambda:us-gov-west-1:165093116878:{LAYER}"),
    ],
)
def test_powertools_layer_resolves_in_every_partition(partition: str, region: str, expected: str) -> None:
    # Given the template deployed in a partition and region (the layer's publisher differs per partition)
    from watchdogs_local.iam_lint import Resolver

    raw = template()
    resolver = Resolver(raw, {}, partition)
    resolver.values["AWS::Region"] = region
    # When the layer ARN is resolved
    (layer,) = raw["Globals"]["Function"]["Layers"]
    # Then it is the layer Powertools publishes there
    assert resolver.resolve(layer) == expected


def test_no_arn_in_the_template_hard_codes_a_partition() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # comments may quote resolved ARNs
    assert re.findall(r"arn:aws[a-z-]*:", code) == []
    # sam-local-engine.sh seeds its layer cache from the commercial ARN the mapping's comment quotes
    assert f"arn:aws:lambda:${{AWS::Region}}:017000801446:{LAYER}" in text


def test_incident_history_survives_the_stack() -> None:
    resources = template()["Resources"]
    # the incident table, and the key it is encrypted with (a deleted key would make the table unreadable)
    for logical_id in ("IncidentTable", "WatchdogKey"):
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


def test_no_reserved_concurrency_by_default() -> None:
    # Given the defaults: no function reserves concurrency, so the stack deploys under any account quota
    cfn = _translated()
    values = parameter_values()
    for function_id in function_logical_ids(cfn):
        reserved = cfn["Resources"][function_id]["Properties"].get("ReservedConcurrentExecutions")
        assert resolve(reserved, values) is None, function_id
    # and asking for N reserves N per event watchdog and 1 for the sweep
    asked = parameter_values(ReservedConcurrency="4")
    reserved = {
        fid: resolve(cfn["Resources"][fid]["Properties"]["ReservedConcurrentExecutions"], asked)
        for fid in function_logical_ids(cfn)
    }
    assert sorted(str(v) for v in reserved.values()) == ["1", "4", "4", "4"]


def test_incident_table_has_the_open_and_outbox_indexes_and_ttl() -> None:
    props = template()["Resources"]["IncidentTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    index, outbox = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "open-index"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["open_flag", "detected_at"]
    # sparse index of incidents with notifications not yet accepted by SNS: every sweep flushes them
    assert outbox["IndexName"] == "outbox-index"
    assert [k["AttributeName"] for k in outbox["KeySchema"]] == ["outbox_flag", "updated_at"]
    assert outbox["Projection"] == {"ProjectionType": "ALL"}
    defined = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert defined == {
        "pk": "S",
        "sk": "S",
        "open_flag": "S",
        "outbox_flag": "S",
        "updated_at": "S",
        "detected_at": "S",
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "IdempotencyTable" not in template()["Resources"]  # de-duplication is the incident claim's


# ---------------------------------------------------------------------------------------------- samconfig, env file
def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


def overrides(environment: str) -> dict[str, str]:
    entries = samconfig()[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(entry.split("=", 1) for entry in entries)


@pytest.mark.parametrize("environment", ["default", "sandbox", "prod"])
def test_samconfig_parameters_satisfy_the_template(environment: str) -> None:
    # Given an environment's parameter overrides
    parameters = template()["Parameters"]
    for name, value in overrides(environment).items():
        # Then each names a template parameter and satisfies its constraints
        assert name in parameters, f"[{environment}] unknown parameter {name}"
        spec = parameters[name]
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), f"[{environment}] {name}={value}"
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], f"[{environment}] {name}={value}"
        if "MinValue" in spec:
            assert int(spec["MinValue"]) <= int(value) <= int(spec.get("MaxValue", 10**9))
    deploy = samconfig()[environment]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"


def test_template_defaults_satisfy_their_own_constraints() -> None:
    for name, spec in template()["Parameters"].items():
        default = str(spec.get("Default", ""))
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], default), name
        if "AllowedValues" in spec:
            assert default in [str(v) for v in spec["AllowedValues"]], name


def test_environments_differ_in_names_and_mode() -> None:
    sandbox, prod = overrides("sandbox"), overrides("prod")
    assert sandbox["WatchdogMode"] == "observe"
    assert prod["WatchdogMode"] == "remediate"
    assert "sandbox" in sandbox["CrawlerPrefixes"]
    assert "prod" in prod["CrawlerPrefixes"]
    assert (
        samconfig()["sandbox"]["global"]["parameters"]["stack_name"]
        != samconfig()["prod"]["global"]["parameters"]["stack_name"]
    )


def test_local_invoke_defaults() -> None:
    local = samconfig()["default"]["local_invoke"]["parameters"]
    assert local["skip_pull_image"] is True
    assert (ROOT / local["env_vars"]).is_file()


def test_local_env_file_overrides_only_declared_variables() -> None:
    # Given env/local.json (sam local invoke --env-vars)
    local = json.loads((ROOT / "env" / "local.json").read_text(encoding="utf-8"))
    # Then it configures every function ...
    assert set(local) == set(FUNCTIONS)
    for function_id, variables in local.items():
        declared = function_environment(function_id)
        # ... sets only variables the template declares (sam local silently ignores any other) ...
        assert set(variables) <= set(declared), set(variables) - set(declared)
        # ... points the SDK at the emulator on the host ...
        assert variables["AWS_ENDPOINT_URL"].startswith("http://172.17.0.1:")
        # ... and, over the template's defaults, yields valid settings
        environment = resolve(declared, parameter_values())
        environment.update(variables)
        load_settings({k: str(v) for k, v in environment.items()})


def test_stack_alarms_reach_operators_without_depending_on_the_alert_topic() -> None:
    # Given the template: stack alarms publish without message attributes, so a filtered alert subscription
    # ("severity=high") would drop them, and the notify-failure alarm must not go to the topic it watches
    resources = template()["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    # Then every alarm (and its recovery) goes to the operations topic only
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "OperationsTopic"}], name
    # And the operations topic has its own key: a broken alert topic or key cannot silence the alarm about it
    assert resources["OperationsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "OperationsKey"}
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] != {"Ref": "OperationsKey"}
    statements = resources["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"].get("Service") == "cloudwatch.amazonaws.com" for s in statements)
    # And the subscription for operators is declared, unfiltered
    subscription = resources["OperationsEmailSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "OperationsTopic"}
    assert "FilterPolicy" not in subscription
    assert "OperationsTopicArn" in template()["Outputs"]


def test_alert_links_and_commands_get_the_stack_name_and_docs_url() -> None:
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert env["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert env["DOCS_BASE_URL"] == {"Ref": "DocsBaseUrl"}


# ---------------------------------------------------------------------------------------------- blast radius, guided
@pytest.mark.parametrize("parameter", ["CrawlerPrefixes", "StateMachineNamePrefixes"])
def test_scope_prefixes_shorter_than_the_settings_minimum_are_rejected(parameter: str) -> None:
    from watchdogs.settings import MIN_SCOPE_PREFIX_LENGTH

    pattern = template()["Parameters"][parameter]["AllowedPattern"]
    enough, short = "x" * MIN_SCOPE_PREFIX_LENGTH, "x" * (MIN_SCOPE_PREFIX_LENGTH - 1)
    # the template refuses what the settings would refuse at cold start, before anything is deployed
    assert re.fullmatch(pattern, enough)
    assert re.fullmatch(pattern, f"acme-etl-prod-,{enough}")
    assert not re.fullmatch(pattern, short)
    assert not re.fullmatch(pattern, f"acme-etl-prod-,{short}")
    assert not re.fullmatch(pattern, "acme-etl-*")


@pytest.mark.parametrize(
    ("value", "ok"), [("", True), ("data-oncall@example.com", True), ("a@b", False), ("a@b.c,d@e.f", False)]
)
def test_alert_email_takes_one_address_or_none(value: str, ok: bool) -> None:
    spec = template()["Parameters"]["AlertEmail"]
    assert bool(re.fullmatch(spec["AllowedPattern"], value)) is ok
    assert "ConstraintDescription" in spec


def test_guided_deploy_asks_environment_and_alerts_first_and_every_question_is_explained() -> None:
    parameters = template()["Parameters"]
    # sam deploy --guided asks in template order
    assert list(parameters)[:3] == ["EnvironmentName", "AlertEmail", "WatchdogMode"]
    for name, spec in parameters.items():
        assert len(spec.get("Description", "")) > 20, name
        if "AllowedPattern" in spec:
            assert spec.get("ConstraintDescription"), name


@pytest.mark.parametrize(
    ("service", "parameter"), [("crawler", "CrawlerMode"), ("query", "QueryMode"), ("execution", "ExecutionMode")]
)
def test_mode_per_service_reaches_the_settings(service: str, parameter: str) -> None:
    # Given observe by default and remediate for one service
    environment = resolve(function_environment("SweepFunction"), parameter_values(**{parameter: "remediate"}))
    settings = load_settings({k: str(v) for k, v in environment.items() if v is not None} | {"AWS_REGION": REGION})
    # Then that service remediates and the others follow WatchdogMode
    for other in ("crawler", "query", "execution"):
        assert settings.mode_for(other).value == ("remediate" if other == service else "observe")
