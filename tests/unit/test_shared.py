"""The rules every watchdog shares (watchdogs.shared): partitions and ARNs, the opt-out and threshold tags, the
home account/region check and the AWS-wide error patterns, and that each service applies them the same way."""

from __future__ import annotations

import pytest

from watchdogs.runbooks.crawler import rules as crawlers
from watchdogs.runbooks.execution.history import WaitsOn, WaitTarget
from watchdogs.runbooks.execution.rules import FailureClass
from watchdogs.runbooks.execution.rules import classify_failure as classify_execution_failure
from watchdogs.runbooks.query import failures as queries
from watchdogs.shared import (
    ACCESS_DENIED,
    TAG_FLOOR_SECONDS,
    THROTTLING,
    TRANSIENT,
    Arn,
    crawler_arn,
    foreign_origin,
    is_express_execution,
    is_opted_out,
    parse_arn,
    partition_for_region,
    state_machine_of,
    tag_flag,
    tag_floor,
    tags_from_pairs,
    threshold_from_tags,
    unqualified_state_machine,
    workgroup_arn,
)

ACCOUNT = "123456789012"
OPT_OUT = "watchdogs:opt-out"
THRESHOLD = "watchdogs:stuck-after-seconds"


# ------------------------------------------------------------------------------------------------ partitions
@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-3", "aws"),
        ("ap-southeast-5", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
    ],
)
def test_partition_follows_the_region(region: str, partition: str) -> None:
    assert partition_for_region(region) == partition


@pytest.mark.parametrize(
    ("region", "crawler", "workgroup"),
    [
        (
            "us-east-1",
            f"arn:aws:glue:us-east-1:{ACCOUNT}:crawler/raw",
            f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/wg",
        ),
        (
            "cn-north-1",
            f"arn:aws-cn:glue:cn-north-1:{ACCOUNT}:crawler/raw",
            f"arn:aws-cn:athena:cn-north-1:{ACCOUNT}:workgroup/wg",
        ),
        (
            "us-gov-west-1",
            f"arn:aws-us-gov:glue:us-gov-west-1:{ACCOUNT}:crawler/raw",
            f"arn:aws-us-gov:athena:us-gov-west-1:{ACCOUNT}:workgroup/wg",
        ),
    ],
)
def test_built_arns_follow_the_partition(region: str, crawler: str, workgroup: str) -> None:
    assert crawler_arn(region, ACCOUNT, "raw") == crawler
    assert workgroup_arn(region, ACCOUNT, "wg") == workgroup
    # and what is built parses back into its parts
    parsed = parse_arn(workgroup)
    assert parsed is not None
    assert (parsed.partition, parsed.service, parsed.region, parsed.account) == (
        partition_for_region(region),
        "athena",
        region,
        ACCOUNT,
    )
    assert (parsed.resource_type, parsed.resource_id) == ("workgroup", "wg")


# ------------------------------------------------------------------------------------------------ parse_arn
def test_parse_arn_splits_the_six_fields_and_keeps_colons_in_the_resource() -> None:
    arn = f"arn:aws-us-gov:states:us-gov-west-1:{ACCOUNT}:execution:pipeline:run:1"
    parsed = parse_arn(arn)
    assert parsed == Arn("aws-us-gov", "states", "us-gov-west-1", ACCOUNT, "execution:pipeline:run:1")
    assert parsed is not None
    assert parsed.resource_type == "execution"
    assert parsed.resource_id == "pipeline:run:1"
    assert str(parsed) == arn


def test_parse_arn_accepts_global_resources_without_region_or_account() -> None:
    parsed = parse_arn("arn:aws:s3:::my-bucket/key")
    assert parsed is not None
    assert (parsed.region, parsed.account, parsed.resource_type, parsed.resource_id) == ("", "", "my-bucket", "key")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-an-arn",
        "arn:aws:glue",
        f"urn:aws:glue:us-east-1:{ACCOUNT}:crawler/x",
        f"arn:azure:glue:us-east-1:{ACCOUNT}:crawler/x",
        f"arn:aws::us-east-1:{ACCOUNT}:crawler/x",
        "arn:aws:glue:us-east-1:12345:crawler/x",
        f"arn:aws:glue:us-east-1:{ACCOUNT}:",
    ],
)
def test_parse_arn_refuses_what_is_not_an_arn(text: str) -> None:
    assert parse_arn(text) is None


# ------------------------------------------------------------------------------------------------ state machines
@pytest.mark.parametrize(
    ("execution", "machine"),
    [
        (
            f"arn:aws:states:us-east-1:{ACCOUNT}:execution:lakehouse-mvp-sandbox-data-pipeline:run-1",
            f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:lakehouse-mvp-sandbox-data-pipeline",
        ),
        (
            f"arn:aws:states:us-east-1:{ACCOUNT}:express:lakehouse-express:run-1:5f2c-77ab",
            f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:lakehouse-express",
        ),
        (
            f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:execution:pipeline:run-1",
            f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:stateMachine:pipeline",
        ),
        (
            f"arn:aws-us-gov:states:us-gov-west-1:{ACCOUNT}:express:pipeline:run-1:abc",
            f"arn:aws-us-gov:states:us-gov-west-1:{ACCOUNT}:stateMachine:pipeline",
        ),
        (
            f"arn:aws-iso-b:states:us-isob-east-1:{ACCOUNT}:execution:pipeline:run-1",
            f"arn:aws-iso-b:states:us-isob-east-1:{ACCOUNT}:stateMachine:pipeline",
        ),
        (  # a Distributed Map child run belongs to its parent state machine
            f"arn:aws:states:us-east-1:{ACCOUNT}:execution:pipeline/MapLabel:7f3a",
            f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:pipeline",
        ),
    ],
)
def test_state_machine_is_parsed_from_standard_and_express_executions_in_every_partition(
    execution: str, machine: str
) -> None:
    assert state_machine_of(execution) == machine


@pytest.mark.parametrize(
    "text",
    [
        "not-an-arn",
        f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:pipeline",
        f"arn:aws:states:us-east-1:{ACCOUNT}:execution:pipeline",
        f"arn:aws:states:us-east-1:{ACCOUNT}:execution::run-1",
        f"arn:aws:glue:us-east-1:{ACCOUNT}:execution:pipeline:run-1",
        f"arn:aws:states:us-east-1:{ACCOUNT}:activity:pipeline:run-1",
    ],
)
def test_state_machine_of_what_is_not_an_execution_is_empty(text: str) -> None:
    assert state_machine_of(text) == ""


def test_state_machine_qualifiers_are_dropped() -> None:
    plain = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:pipeline"
    assert unqualified_state_machine(plain) == plain
    assert unqualified_state_machine(f"{plain}:3") == plain  # a version
    assert unqualified_state_machine(f"{plain}:prod") == plain  # an alias
    assert unqualified_state_machine(f"arn:aws:states:us-east-1:{ACCOUNT}:execution:pipeline:run") == ""
    assert unqualified_state_machine("garbage") == ""


def test_express_executions_are_recognised_from_their_arn() -> None:
    assert is_express_execution(f"arn:aws:states:us-east-1:{ACCOUNT}:express:sm:run:id")
    assert not is_express_execution(f"arn:aws:states:us-east-1:{ACCOUNT}:execution:sm:run")
    assert not is_express_execution("arn:aws:states:us-east-1:1:express:sm:run:id")  # not a 12-digit account


# ------------------------------------------------------------------------------------------------ opt-out tag
@pytest.mark.parametrize(
    ("value", "opted_out"),
    [
        ("true", True),
        ("", True),
        ("yes", True),
        ("anything", True),
        ("enabled", True),
        ("disabled", True),  # ambiguous: resolves to leaving the resource alone
        ("DISABLED", True),
        ("false", False),
        ("False", False),
        (" no ", False),
        ("0", False),
        ("OFF", False),
    ],
)
def test_opt_out_tag_opts_out_unless_explicitly_false(value: str, opted_out: bool) -> None:
    assert is_opted_out({OPT_OUT: value}, OPT_OUT) is opted_out


def test_no_opt_out_tag_means_not_opted_out() -> None:
    assert not is_opted_out({}, OPT_OUT)
    assert not is_opted_out({"owner": "data-team", "watchdogs:opt-out-later": "true"}, OPT_OUT)


@pytest.mark.parametrize(
    ("value", "flag"),
    [("true", True), ("", True), ("enabled", True), ("false", False), ("disabled", False), ("maybe", None)],
)
def test_boolean_tags(value: str, flag: bool | None) -> None:
    assert tag_flag(value) is flag
    assert tag_flag(None) is None


def test_tag_pairs_become_a_dict() -> None:
    assert tags_from_pairs([{"key": "a", "value": "1"}, {"key": "b"}]) == {"a": "1", "b": ""}
    assert tags_from_pairs([{"Key": "a", "Value": "1"}], key="Key", value="Value") == {"a": "1"}


# ------------------------------------------------------------------------------------------------ thresholds
def test_tag_floor_is_the_lower_of_default_and_floor() -> None:
    assert tag_floor(7200) == TAG_FLOOR_SECONDS
    assert tag_floor(60) == 60


@pytest.mark.parametrize(
    ("tags", "expected", "problem"),
    [
        ({}, (2700, "default"), None),
        ({"other": "5"}, (2700, "default"), None),
        ({THRESHOLD: "5400"}, (5400, "tag"), None),
        ({THRESHOLD: " 600 "}, (600, "tag"), None),
        ({THRESHOLD: "30"}, (TAG_FLOOR_SECONDS, "tag"), "below the floor"),
        ({THRESHOLD: "0"}, (TAG_FLOOR_SECONDS, "tag"), "below the floor"),
        ({THRESHOLD: "-60"}, (TAG_FLOOR_SECONDS, "tag"), "below the floor"),
        ({THRESHOLD: "an hour"}, (2700, "default"), "not a number"),
        ({THRESHOLD: ""}, (2700, "default"), "not a number"),
    ],
)
def test_threshold_from_tags(tags: dict[str, str], expected: tuple[int, str], problem: str | None) -> None:
    # Given a resource's tags / When its threshold is read
    threshold = threshold_from_tags(tags, THRESHOLD, 2700)
    # Then the tag wins when valid, is raised to the floor, and garbage falls back to the default with a reason
    assert (threshold.seconds, threshold.source) == expected
    assert (threshold.problem is None) == (problem is None)
    if problem:
        assert problem in str(threshold.problem)


def test_threshold_floor_never_exceeds_a_lower_default() -> None:
    assert threshold_from_tags({THRESHOLD: "10"}, THRESHOLD, 60).seconds == 60


# ------------------------------------------------------------------------------------------------ home
def test_foreign_origin_names_the_account_or_region_that_is_not_home() -> None:
    assert foreign_origin({}, ACCOUNT, "us-east-1") is None
    assert foreign_origin({"event_account": ACCOUNT, "event_region": "us-east-1"}, ACCOUNT, "us-east-1") is None
    assert "210987654321" in str(foreign_origin({"event_account": "210987654321"}, ACCOUNT, "us-east-1"))
    assert "210987654321" in str(foreign_origin({"account_id": "210987654321"}, ACCOUNT, "us-east-1"))
    assert "eu-west-1" in str(foreign_origin({"event_region": "eu-west-1"}, ACCOUNT, "us-east-1"))
    # without a configured account id only the region can be compared
    assert foreign_origin({"event_account": "210987654321"}, "", "us-east-1") is None


# ------------------------------------------------------------------------------------------------ error patterns
@pytest.mark.parametrize(
    "message",
    [
        "ThrottlingException: Rate exceeded",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown: Please reduce your request rate",
        "ProvisionedThroughputExceededException",
    ],
)
def test_throttling_is_transient_for_every_watchdog(message: str) -> None:
    assert THROTTLING.search(message)
    assert TRANSIENT.search(message)
    assert crawlers.classify_failure(message).failure_class is crawlers.FailureClass.TRANSIENT
    target = WaitTarget(WaitsOn.NOTHING)
    assert classify_execution_failure("FAILED", message, None, target, None) is FailureClass.TRANSIENT


@pytest.mark.parametrize(
    "message",
    ["InternalServerError", "InternalFailure", "InternalServiceException", "Service Unavailable", "internal error"],
)
def test_service_faults_are_transient_for_every_watchdog(message: str) -> None:
    assert TRANSIENT.search(message)
    assert crawlers.classify_failure(message).failure_class is crawlers.FailureClass.TRANSIENT
    target = WaitTarget(WaitsOn.NOTHING)
    assert classify_execution_failure("FAILED", message, None, target, None) is FailureClass.TRANSIENT


@pytest.mark.parametrize(
    "message",
    [
        "AccessDeniedException: Access denied",
        "Access Denied (Service: Amazon S3; Status Code: 403)",
        "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: glue:GetTable",
        "Forbidden",
    ],
)
def test_access_denied_is_a_permission_problem_for_every_watchdog(message: str) -> None:
    assert ACCESS_DENIED.search(message)
    assert crawlers.classify_failure(message).failure_class is crawlers.FailureClass.ACCESS_DENIED
    target = WaitTarget(WaitsOn.NOTHING)
    assert classify_execution_failure("FAILED", message, None, target, None) is FailureClass.PERMISSION
    assert queries.classify_failure(2, None, message, False).name == "permission-denied"


def test_athenas_missing_column_message_is_not_access_denied() -> None:
    # "... or requester is not authorized to access requested resources" is Athena's missing-column message
    message = (
        "COLUMN_NOT_FOUND: Column 'x' cannot be resolved or requester is not authorized to access requested resources"
    )
    assert not ACCESS_DENIED.search(message)
    assert queries.classify_failure(2, None, message, False).name == "user-sql-error"
