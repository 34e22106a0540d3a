"""The runbook's lakehouse, provisioned into an emulator (or any account): reusable by tests and the local demo.

:func:`provision_lakehouse` creates what ``operational-runbooks.md`` describes, named for one environment:

* the data-lake bucket (``raw/``, ``processed/``, ``curated/`` prefixes);
* the Glue database and the raw / processed / curated crawlers;
* the Athena workgroups (``lakehouse-<env>-workgroup`` and the pipeline's ``lakehouse-mvp-<env>-workgroup``);
* the pipeline-metadata table (key ``pipeline_name`` + ``execution_date``, GSI ``status-index``);
* the pipeline state machine, following the runbook's nine "Pipeline Steps": RecordPipelineStart ->
  StartRawCrawler -> WaitForRawCrawler (poll loop) -> RunDbtStaging -> RunDbtMarts -> StartCuratedCrawler ->
  WaitForCuratedCrawler -> RunDbtTests -> RecordPipelineSuccess.

The emulator cannot run the dbt Lambdas, so each dbt step submits an Athena query in the pipeline workgroup and
polls it (``aws-sdk:athena:startQueryExecution`` / ``getQueryExecution``), which is what those Lambdas do: a stuck
query really holds the step. A cancelled query is re-submitted (Athena marks cancellations retryable), a failed
one fails the run (``Dbt.ModelFailed``; ``Dbt.TestsFailed`` in the tests step). A crawler wait continues once the
crawler is READY after a successful crawl, fails on a FAILED crawl, and keeps waiting after a cancelled crawl (a
stopped crawler is being reset).

Nothing is hard-coded to one environment: every name comes from :class:`LakehouseNames`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

    from watchdogs.clients import AwsClients

LAYERS = ("raw", "processed", "curated")


#: template parameters that scope a deployment of the watchdogs to this lakehouse's sandbox names (acting)
SANDBOX_PARAMETERS: dict[str, str] = {
    "EnvironmentName": "sandbox",
    "WatchdogMode": "remediate",
    "CrawlerPrefixes": "lakehouse-sandbox-",
    "StateMachineNamePrefixes": "lakehouse-mvp-sandbox-",
    "Workgroups": "lakehouse-sandbox-workgroup,lakehouse-mvp-sandbox-workgroup",
    "PipelineWorkgroup": "lakehouse-mvp-sandbox-workgroup",
    "MetadataTableName": "lakehouse-sandbox-pipeline-metadata",
}


@dataclass(frozen=True)
class LakehouseNames:
    """Every name of one environment's lakehouse (the runbook's conventions; override any field)."""

    env: str = "sandbox"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    pipeline_name: str = "raw_to_curated"
    poll_seconds: int = 1  # Wait between crawler/query polls (the real pipeline polls every 30-60 s)
    bucket: str = ""
    database: str = ""
    crawler_prefix: str = ""
    workgroup: str = ""
    pipeline_workgroup: str = ""
    metadata_table: str = ""
    state_machine: str = ""
    role_arn: str = ""
    crawler_role_arn: str = ""

    def __post_init__(self) -> None:
        env = self.env
        defaults = {
            "bucket": f"lakehouse-{env}-data-lake",
            "database": f"lakehouse_{env}_lakehouse",
            "crawler_prefix": f"lakehouse-{env}-",
            "workgroup": f"lakehouse-{env}-workgroup",
            "pipeline_workgroup": f"lakehouse-mvp-{env}-workgroup",
            "metadata_table": f"lakehouse-{env}-pipeline-metadata",
            "state_machine": f"lakehouse-mvp-{env}-data-pipeline",
            "role_arn": f"arn:aws:iam::{self.account_id}:role/lakehouse-mvp-{env}-pipeline-role",
            "crawler_role_arn": f"arn:aws:iam::{self.account_id}:role/lakehouse-{env}-crawler-role",
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    def crawler(self, layer: str) -> str:
        return f"{self.crawler_prefix}{layer}-crawler"

    @property
    def crawlers(self) -> dict[str, str]:
        return {layer: self.crawler(layer) for layer in LAYERS}

    @property
    def state_machine_arn(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{self.state_machine}"

    def execution_arn(self, execution_name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:execution:{self.state_machine}:{execution_name}"


@dataclass
class Lakehouse:
    """What :func:`provision_lakehouse` created, with the runbook's operations on it."""

    names: LakehouseNames
    state_machine_arn: str
    crawlers: dict[str, str] = field(default_factory=dict)
    workgroups: tuple[str, ...] = ()

    def start_pipeline(self, sfn: Any, run_id: str) -> str:
        """Runbook "Manually Trigger a Pipeline Run": start an execution with the documented input format."""
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=run_id,
            input=json.dumps({"Execution": {"StartTime": started, "Id": run_id}}),
        )
        return str(response["executionArn"])


# ------------------------------------------------------------------------------------------------ definition
def _crawler_steps(names: LakehouseNames, layer: str, start: str, wait: str, after: str) -> dict[str, Any]:
    crawler = names.crawler(layer)
    title = layer.title()
    get, check, failed = f"Get{title}CrawlerState", f"Is{title}CrawlerDone", f"{title}CrawlerFailed"
    status = "$.crawler.Crawler.LastCrawl.Status"

    def last_crawl(*values: str) -> dict[str, Any]:
        return {
            "And": [
                {"Variable": "$.crawler.Crawler.State", "StringEquals": "READY"},
                {"Variable": status, "IsPresent": True},
                {"Or": [{"Variable": status, "StringEquals": value} for value in values]},
            ]
        }

    return {
        start: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
            "Parameters": {"Name": crawler},
            "ResultPath": None,
            "Next": wait,
        },
        wait: {"Type": "Wait", "Seconds": names.poll_seconds, "Next": get},
        get: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
            "Parameters": {"Name": crawler},
            "ResultSelector": {"Crawler.$": "$.Crawler"},
            "ResultPath": "$.crawler",
            "Next": check,
        },
        check: {
            "Type": "Choice",
            "Choices": [
                {**last_crawl("FAILED"), "Next": failed},
                {**last_crawl("CANCELLED", "STOPPED"), "Next": wait},
                {"Variable": "$.crawler.Crawler.State", "StringEquals": "READY", "Next": after},
            ],
            "Default": wait,
        },
        failed: {"Type": "Fail", "Error": "Glue.CrawlerFailed", "Cause": f"crawler {crawler} failed"},
    }


def _dbt_steps(names: LakehouseNames, step: str, sql: str, after: str, error: str) -> dict[str, Any]:
    run, wait, check, done, failed = (
        f"RunDbt{step}",
        f"WaitForDbt{step}",
        f"CheckDbt{step}",
        f"IsDbt{step}Done",
        f"Dbt{step}Failed",
    )
    key = step.lower()
    return {
        run: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:athena:startQueryExecution",
            "Parameters": {"QueryString": sql, "WorkGroup": names.pipeline_workgroup},
            "ResultSelector": {"QueryExecutionId.$": "$.QueryExecutionId"},
            "ResultPath": f"$.{key}",
            "Next": wait,
        },
        wait: {"Type": "Wait", "Seconds": names.poll_seconds, "Next": check},
        check: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:athena:getQueryExecution",
            "Parameters": {"QueryExecutionId.$": f"$.{key}.QueryExecutionId"},
            "ResultSelector": {"State.$": "$.QueryExecution.Status.State"},
            "ResultPath": f"$.{key}.Status",
            "Next": done,
        },
        done: {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"$.{key}.Status.State", "StringEquals": "SUCCEEDED", "Next": after},
                {"Variable": f"$.{key}.Status.State", "StringEquals": "CANCELLED", "Next": run},
                {"Variable": f"$.{key}.Status.State", "StringEquals": "FAILED", "Next": failed},
            ],
            "Default": wait,
        },
        failed: {"Type": "Fail", "Error": error, "Cause": f"dbt {key} query failed in {names.pipeline_workgroup}"},
    }


def pipeline_definition(names: LakehouseNames) -> dict[str, Any]:
    """The runbook's nine-step pipeline as Amazon States Language (pure; JSONPath, standard workflow)."""
    table = names.metadata_table
    states: dict[str, Any] = {
        "RecordPipelineStart": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": table,
                "Item": {
                    "pipeline_name": {"S": names.pipeline_name},
                    "execution_date": {"S.$": "$$.Execution.StartTime"},
                    "status": {"S": "RUNNING"},
                    "execution_arn": {"S.$": "$$.Execution.Id"},
                },
            },
            "ResultPath": None,
            "Next": "StartRawCrawler",
        },
        **_crawler_steps(names, "raw", "StartRawCrawler", "WaitForRawCrawler", "RunDbtStaging"),
        **_dbt_steps(names, "Staging", "-- dbt staging views\nSELECT 1", "RunDbtMarts", "Dbt.ModelFailed"),
        **_dbt_steps(names, "Marts", "-- dbt marts (Iceberg)\nSELECT 1", "StartCuratedCrawler", "Dbt.ModelFailed"),
        **_crawler_steps(names, "curated", "StartCuratedCrawler", "WaitForCuratedCrawler", "RunDbtTests"),
        **_dbt_steps(names, "Tests", "-- dbt tests\nSELECT 0 AS failures", "RecordPipelineSuccess", "Dbt.TestsFailed"),
        "RecordPipelineSuccess": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": table,
                "Key": {
                    "pipeline_name": {"S": names.pipeline_name},
                    "execution_date": {"S.$": "$$.Execution.StartTime"},
                },
                "UpdateExpression": "SET #s = :done, completed_at = :at",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":done": {"S": "SUCCEEDED"}, ":at": {"S.$": "$$.State.EnteredTime"}},
            },
            "ResultPath": None,
            "End": True,
        },
    }
    return {
        "Comment": f"{names.state_machine}: the runbook's data pipeline (dbt steps run their Athena queries)",
        "StartAt": "RecordPipelineStart",
        "States": states,
    }


# ------------------------------------------------------------------------------------------------ provisioning
def _client(source: AwsClients | boto3.Session | None, service: str) -> Any:
    if source is None:
        import boto3  # noqa: PLC0415

        return boto3.client(service)  # type: ignore[call-overload]
    if hasattr(source, "client"):  # a boto3.Session
        return source.client(service)  # type: ignore[call-overload]
    attr = {"stepfunctions": "sfn"}.get(service, service)
    if hasattr(type(source), attr):  # AwsClients: reuse its clients (and its session, for the others)
        return getattr(source, attr)
    return source._client(service)


def create_metadata_table(dynamodb: Any, table_name: str) -> None:
    """The runbook's pipeline-metadata table: key ``pipeline_name`` + ``execution_date``, GSI ``status-index``."""
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": "pipeline_name", "AttributeType": "S"},
            {"AttributeName": "execution_date", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pipeline_name", "KeyType": "HASH"},
            {"AttributeName": "execution_date", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "status-index",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "execution_date", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def provision_lakehouse(source: AwsClients | boto3.Session | None, names: LakehouseNames) -> Lakehouse:
    """Create the runbook's lakehouse for ``names`` (bucket, Glue database + crawlers, workgroups, metadata table
    with ``status-index``, pipeline state machine). ``source`` is an :class:`~watchdogs.clients.AwsClients`, a
    ``boto3.Session`` or None (default session). Returns what was created."""
    s3 = _client(source, "s3")
    glue = _client(source, "glue")
    athena = _client(source, "athena")
    dynamodb = _client(source, "dynamodb")
    sfn = _client(source, "stepfunctions")

    if names.region == "us-east-1":
        s3.create_bucket(Bucket=names.bucket)
    else:
        s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": names.region})
    for layer in LAYERS:
        s3.put_object(Bucket=names.bucket, Key=f"{layer}/events/part-0000.json", Body=b'{"event_id": 1}\n')

    glue.create_database(DatabaseInput={"Name": names.database})
    for layer, crawler in names.crawlers.items():
        glue.create_crawler(
            Name=crawler,
            Role=names.crawler_role_arn,
            DatabaseName=names.database,
            Targets={"S3Targets": [{"Path": f"s3://{names.bucket}/{layer}/"}]},
            TablePrefix=f"{layer}_",
        )

    workgroups = (names.workgroup, names.pipeline_workgroup)
    for workgroup in workgroups:
        athena.create_work_group(
            Name=workgroup,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{names.bucket}/athena-results/{workgroup}/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )

    create_metadata_table(dynamodb, names.metadata_table)

    arn = sfn.create_state_machine(
        name=names.state_machine,
        definition=json.dumps(pipeline_definition(names)),
        roleArn=names.role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    return Lakehouse(names=names, state_machine_arn=str(arn), crawlers=names.crawlers, workgroups=workgroups)
