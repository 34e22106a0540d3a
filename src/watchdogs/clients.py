"""Lazily created AWS clients: only the clients an invocation needs, none at import time (cold start).

Every client honours the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables natively,
so the same code runs against AWS, ``sam local invoke`` and the embedded emulator.

Building a client parses its service's whole model: Glue's is 200 KB of gzip (about 110 ms of CPU, a third of a
cold start), Athena's about 50 ms. :data:`OPERATIONS` lists the operations the watchdogs call; ``botodata/`` holds
those services' models cut down to exactly them (shapes they reach, no documentation), generated from the
installed botocore by ``python -m watchdogs_local.botodata`` and kept in sync by ``tests/unit/test_botodata.py``.
botocore finds them first through its own ``data_path`` search list (the ``AWS_DATA_PATH`` mechanism); the
endpoint rules and everything else still come from botocore.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_athena import AthenaClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


#: the trimmed service models (see the module docstring)
BOTODATA = Path(__file__).with_name("botodata")
#: service -> the operations the watchdogs call on it (every one also declared as an IAM action somewhere)
OPERATIONS: dict[str, tuple[str, ...]] = {
    "glue": ("GetCrawler", "GetCrawlers", "GetTags", "StartCrawler", "StopCrawler"),
    "athena": (
        "BatchGetQueryExecution",
        "GetQueryExecution",
        "GetQueryResults",
        "GetWorkGroup",
        "ListQueryExecutions",
        "ListTagsForResource",
        "StartQueryExecution",
        "StopQueryExecution",
    ),
    "stepfunctions": (
        "DescribeExecution",
        "GetExecutionHistory",
        "ListExecutions",
        "ListStateMachines",
        "ListTagsForResource",
        "RedriveExecution",
        "StopExecution",
    ),
    "sns": ("Publish",),
    "logs": ("GetLogEvents",),
}


def with_trimmed_models(session: boto3.Session) -> boto3.Session:
    """Put :data:`BOTODATA` first on the session's model search path (idempotent)."""
    loader = session._session.get_component("data_loader")
    if str(BOTODATA) not in loader.search_paths:
        loader.search_paths.insert(0, str(BOTODATA))
    return session


class AwsClients:
    """A bundle of boto3 clients built on first use. Pass a ``boto3.Session`` to control credentials or hooks."""

    def __init__(self, session: boto3.Session | None = None, **overrides: Any) -> None:
        self._session = session
        self._injected = frozenset(overrides)
        for name, client in overrides.items():  # explicit clients win (tests, custom adapters)
            self.__dict__[name] = client

    def _client(self, service: str, *, attempts: int = 4) -> Any:
        import boto3  # noqa: PLC0415 - deferred: importing boto3 is most of a cold start
        from botocore.config import Config  # noqa: PLC0415

        if self._session is None:
            self._session = boto3.Session()
        with_trimmed_models(self._session)
        # total_max_attempts counts the first call too (max_attempts would count retries only)
        config = Config(
            retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=5, read_timeout=20
        )
        return self._session.client(service, config=config)  # type: ignore[call-overload]

    def acting(self, name: str) -> Any:
        """The client for *mutating* calls on ``name`` (glue, athena, sfn, dynamodb): botocore must not retry
        them by itself, because a retry after a timeout repeats a call whose effect may already have landed.
        The engine settles unknown outcomes by re-reading the resource instead. Built only when acting; an
        explicitly injected client (tests) is used as is."""
        key = f"_acting_{name}"
        if name in self._injected:
            return getattr(self, name)
        if key not in self.__dict__:
            service = "stepfunctions" if name == "sfn" else name
            self.__dict__[key] = self._client(service, attempts=1)
        return self.__dict__[key]

    @cached_property
    def glue(self) -> GlueClient:
        client: GlueClient = self._client("glue")
        return client

    @cached_property
    def athena(self) -> AthenaClient:
        client: AthenaClient = self._client("athena")
        return client

    @cached_property
    def sfn(self) -> SFNClient:
        client: SFNClient = self._client("stepfunctions")
        return client

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = self._client("sns")
        return client

    @cached_property
    def s3(self) -> Any:
        """S3 (evidence reads only: object listings under a crawler's targets)."""
        return self._client("s3")

    @cached_property
    def logs(self) -> Any:
        """CloudWatch Logs (evidence reads only: a crawler's log stream)."""
        return self._client("logs")

    @cached_property
    def scheduler(self) -> Any:
        """EventBridge Scheduler: the one-shot stuck timers (watchdogs.timers)."""
        return self._client("scheduler")
