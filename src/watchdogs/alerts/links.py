"""Where a person goes next: console deep links (region- and partition-aware), the runbook section in the project's
docs, and the exact ``watchdogs-ops`` commands to see, acknowledge or resolve an incident.

Links are built only from what the incident names (resource ids, log streams) and the deployment's own context
(:class:`AlertContext`); every path part is URL-encoded, so a hostile name cannot change where a link points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from watchdogs.shared.arns import parse_arn, partition_for_region

if TYPE_CHECKING:
    from watchdogs.incidents import Incident

#: partition -> AWS Management Console host
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
CRAWLER_LOG_GROUP = "/aws-glue/crawlers"
#: runbook section prefix -> (docs file, anchor): the page that says what the watchdog does for each runbook step
RUNBOOK_DOCS: tuple[tuple[str, str, str], ...] = (
    ("Glue Crawler Operations", "docs/glue.md", "what-each-runbook-step-became"),
    ("Troubleshooting > Crawler Not Finding New Data", "docs/glue.md", "what-each-runbook-step-became"),
    ("Athena Query Timeout", "docs/athena.md", "what-each-runbook-step-became"),
    ("dbt Model Failures", "docs/athena.md", "failed-queries-classification"),
    ("Pipeline Stuck in RUNNING State: 2", "docs/athena.md", "what-each-runbook-step-became"),
    ("Troubleshooting", "docs/stepfunctions.md", "what-each-runbook-step-became"),
    ("Pipeline Operations", "docs/stepfunctions.md", "what-each-runbook-step-became"),
    ("Elementary & Data Quality", "docs/stepfunctions.md", "what-each-runbook-step-became"),
)
RUNBOOK_FILE = "shared/seed/operational-runbooks.md"


@dataclass(frozen=True)
class AlertContext:
    """The deployment an alert comes from: what links and commands need. Built from settings and the topic ARN."""

    stack_name: str = ""
    region: str = ""
    partition: str = ""
    account: str = ""
    docs_base_url: str = ""

    @classmethod
    def from_topic(cls, topic_arn: str, *, stack_name: str = "", docs_base_url: str = "") -> AlertContext:
        """Region, partition and account of the alert topic (the stack's own resources share them)."""
        arn = parse_arn(topic_arn)
        region = arn.region if arn else ""
        return cls(
            stack_name=stack_name,
            region=region,
            partition=arn.partition if arn else partition_for_region(region),
            account=arn.account if arn else "",
            docs_base_url=docs_base_url.rstrip("/"),
        )

    @property
    def console(self) -> str | None:
        host = CONSOLE_HOSTS.get(self.partition or partition_for_region(self.region))
        return f"https://{host}" if host and self.region else None


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def _console_encoded(value: str) -> str:
    """CloudWatch's console fragments encode ``/`` and friends as ``$252F`` (a URL-encoded, then ``%`` -> ``$25``)."""
    return quote(quote(value, safe=""), safe="").replace("%", "$")


def console_links(incident: Incident, ctx: AlertContext) -> list[Link]:
    """Deep links for the resource (a crawler's log stream, an execution's failed state); none without a region."""
    base = ctx.console
    if base is None:
        return []
    region = quote(ctx.region, safe="")
    kind, rid = incident.resource_type.value, incident.resource_id
    if kind == "crawler":
        name = quote(rid, safe="")
        stream = str(incident.facts.get("log_stream") or rid)
        group = str(incident.facts.get("log_group") or CRAWLER_LOG_GROUP)
        return [
            Link("Crawler", f"{base}/glue/home?region={region}#/v2/data-catalog/crawlers/view/{name}"),
            Link(
                f"Crawler log stream ({group})",
                f"{base}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
                f"{_console_encoded(group)}/log-events/{_console_encoded(stream)}",
            ),
        ]
    if kind == "query":
        return [Link("Query", f"{base}/athena/home?region={region}#/query-editor/history/{quote(rid, safe='')}")]
    failed = failed_state(incident)
    which = "stuck in" if incident.condition.value == "STUCK" else "failed state:"
    label = f"Execution ({which} {failed})" if failed else "Execution"
    return [Link(label, f"{base}/states/home?region={region}#/v2/executions/details/{quote(rid, safe=':')}")]


def failed_state(incident: Incident) -> str:
    """The state an execution failed or is stuck in, as its facts record it."""
    for key in ("failed_state", "current_state"):
        value = incident.facts.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def runbook_link(section: str, ctx: AlertContext) -> Link | None:
    """The docs page that tells what the watchdog does for ``section`` (a link when a docs URL is configured)."""
    if not section:
        return None
    for prefix, page, anchor in RUNBOOK_DOCS:
        if section.startswith(prefix):
            target = f"{page}#{anchor}"
            return Link(section, f"{ctx.docs_base_url}/{target}" if ctx.docs_base_url else target)
    return None


def ops_commands(incident: Incident, ctx: AlertContext) -> dict[str, str]:
    """The exact operator commands for this incident (see, acknowledge, resolve)."""
    stack = _shell_word(ctx.stack_name) if ctx.stack_name else "<STACK>"
    target = f"{incident.resource_type.value} {_shell_word(incident.resource_id)}"
    base = f"watchdogs-ops --stack-name {stack}"
    return {
        "show": f"{base} show {target}",
        "ack": f'{base} ack {target} --by <you> --reason "<why>"',
        "resolve": f'{base} resolve {target} --by <you> --note "<what you did>"',
    }


def _shell_word(value: str) -> str:
    """``value`` as one shell word: bare when it is plainly safe, else single-quoted."""
    safe = value.replace("-", "").replace("_", "").replace(".", "").replace(":", "").replace("/", "")
    if value and safe.isascii() and safe.isalnum():
        return value
    return "'" + value.replace("'", "'\\''") + "'"
