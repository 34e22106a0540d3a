"""Shared fixtures: an in-process moto server (real HTTP, the same path the Lambda code takes through
``AWS_ENDPOINT_URL``), the watchdogs' tables built from template.yaml, the alert topic with an SQS subscriber,
and the settings environment the template declares."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, create_tables_from_template
from tests.support.property_report import (  # noqa: F401 - hooks: the property histories' counts in the summary
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

INCIDENT_TABLE = "watchdogs-test-incidents"
TOPIC_NAME = "watchdogs-test-alerts"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    os.environ["MOTO_PORT"] = str(port)
    # the harness's moto extensions (local/watchdogs_local, not shipped to Lambda); a failed import must fail loudly
    from watchdogs_local import moto_ext

    moto_ext.install()
    yield url
    server.stop()


def base_environment(endpoint: str, **overrides: str) -> dict[str, str]:
    """The settings environment, as template.yaml declares it (names must match the template)."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ENVIRONMENT": "test",
        "WATCHDOG_MODE": "remediate",
        "INCIDENT_TABLE": INCIDENT_TABLE,
        "ALERT_TOPIC_ARN": TOPIC_ARN,
        "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
        "SCOPE_STATE_MACHINE_ARN_PREFIXES": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lakehouse-mvp-sandbox-",
        "SCOPE_WORKGROUPS": "lakehouse-sandbox-workgroup,lakehouse-mvp-sandbox-workgroup",
        "PIPELINE_WORKGROUP": "lakehouse-mvp-sandbox-workgroup",
        "METADATA_TABLE": "lakehouse-sandbox-pipeline-metadata",
        "ACCOUNT_ID": ACCOUNT,
        "POWERTOOLS_METRICS_NAMESPACE": "LakehouseWatchdogs",
        "POWERTOOLS_SERVICE_NAME": "lakehouse-watchdogs",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
    env.update(overrides)
    return env


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A clean emulator with the watchdogs' tables (from template.yaml), alert topic and SQS subscriber."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for key, value in base_environment(moto_server).items():
        monkeypatch.setenv(key, value)
    from watchdogs.runtime import reset_runtime

    reset_runtime()
    ddb = boto3.client("dynamodb")
    create_tables_from_template(ddb, {"IncidentTable": INCIDENT_TABLE})
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    sns.create_topic(Name=TOPIC_NAME)
    queue_url = sqs.create_queue(QueueName="alert-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn)
    yield {"endpoint": moto_server, "subscriber": Subscriber(sqs, queue_url)}
    reset_runtime()


@pytest.fixture
def subscriber(aws: dict[str, Any]) -> Subscriber:
    sub: Subscriber = aws["subscriber"]
    return sub


@pytest.fixture
def api_calls(aws: dict[str, Any]) -> ApiCalls:
    """Counts every AWS call the watchdogs make: installs a counting session into the runtime's clients."""
    from watchdogs import runtime as rt
    from watchdogs.clients import AwsClients

    session = boto3.Session()
    counter = ApiCalls(session)
    original = AwsClients.__init__

    def counting_init(self: AwsClients, session_arg: Any = None, **overrides: Any) -> None:
        original(self, session_arg or session, **overrides)

    mp = pytest.MonkeyPatch()
    mp.setattr(AwsClients, "__init__", counting_init)
    rt.reset_runtime()
    yield counter  # type: ignore[misc]
    mp.undo()


class FakeContext:
    """A minimal LambdaContext for handler calls in tests."""

    function_name = "watchdogs-test"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:watchdogs-test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()
