"""Pipeline-metadata helpers (runbook "DynamoDB Metadata Query Issues"): find the row of one run.

The pipeline writes one row per run (key ``pipeline_name`` + ``execution_date``, attribute names are settings) with
``status`` RUNNING at start and SUCCEEDED at its last step. A run that dies leaves its row RUNNING. The row is found
the way the runbook queries it, through the ``status-index`` GSI (``status = RUNNING``), filtered on the run's
execution ARN: one Query, no scan. Updating it is the ``reconcile_metadata`` action's job (conditional, once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from watchdogs.settings import Settings

RUNNING = "RUNNING"
MAX_PAGES = 5


class MetadataReadError(RuntimeError):
    """The pipeline-metadata table could not be queried."""


def find_running_row(client: DynamoDBClient, settings: Settings, execution_arn: str) -> dict[str, Any] | None:
    """The key of the row still RUNNING for ``execution_arn`` (and what the action needs to update it), or None."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    pipeline_attr, date_attr = settings.metadata_pipeline_attr, settings.metadata_date_attr
    kwargs: dict[str, Any] = {
        "TableName": settings.metadata_table,
        "IndexName": settings.metadata_status_index,
        "KeyConditionExpression": "#s = :running",
        "FilterExpression": "#x = :arn",
        "ExpressionAttributeNames": {
            "#s": settings.metadata_status_attr,
            "#x": settings.metadata_execution_attr,
            "#p": pipeline_attr,
            "#d": date_attr,
        },
        "ExpressionAttributeValues": {":running": {"S": RUNNING}, ":arn": {"S": execution_arn}},
        "ProjectionExpression": "#p, #d",
    }
    try:
        for _ in range(MAX_PAGES):
            response = client.query(**kwargs)
            for item in response.get("Items", []):
                if pipeline_attr in item and date_attr in item:
                    key = {pipeline_attr: dict(item[pipeline_attr]), date_attr: dict(item[date_attr])}
                    label = "/".join(str(next(iter(v.values()))) for v in key.values())
                    return {
                        "table": settings.metadata_table,
                        "key": key,
                        "label": label,
                        "status_attr": settings.metadata_status_attr,
                        "execution_attr": settings.metadata_execution_attr,
                    }
            if "LastEvaluatedKey" not in response:
                return None
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    except ClientError as exc:
        raise MetadataReadError(f"Query {settings.metadata_table}/{settings.metadata_status_index}: {exc}") from exc
    return None
