"""The crawler watchdog's shell: scope, the AWS reads (``GetCrawler``, ``GetTags``) and the decision dispatch.

Every read is declared: :data:`CONDITIONS` names the reads each condition may make, and ``read_permissions`` (what
``template.yaml`` must grant) is their union. ``GetTags`` is read only when the rules say the runbook may act or must
judge a crawler stuck (:func:`~.rules.restart_due`, :func:`~.reset.reset_due`), never by running the decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, Finding, ResourceType
from watchdogs.observability import logger
from watchdogs.runbooks.crawler.facts import CrawlerFacts, expects_new_data
from watchdogs.runbooks.crawler.permissions import DISCOVERY_PERMISSIONS, EVIDENCE_PERMISSIONS
from watchdogs.runbooks.crawler.recovery import decide_no_new_data, decide_recovered, decide_started
from watchdogs.runbooks.crawler.reset import decide_stuck, reset_due
from watchdogs.runbooks.crawler.rules import decide_failed, ignore, restart_due
from watchdogs.runbooks.crawler.steps import STEPS
from watchdogs.shared import crawler_arn, foreign_origin

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence, Incident, ResourceState
    from watchdogs.runbooks.discovery import DiscoveryContext, Found
    from watchdogs.runbooks.evidence import TimeBox
    from watchdogs.settings import Settings

GET_CRAWLER = "glue:GetCrawler"
GET_TAGS = "glue:GetTags"

#: the reads each condition may make (a condition not listed reads nothing and is not a crawler condition)
CONDITIONS: dict[Condition, tuple[str, ...]] = {
    Condition.FAILED: (GET_CRAWLER, GET_TAGS),  # tags only before a restart
    Condition.STUCK: (GET_CRAWLER, GET_TAGS),  # tags only to judge RUNNING or resume on READY
    Condition.RECOVERED: (GET_CRAWLER, GET_TAGS),  # GetCrawler only with an incident open, tags only if nothing changed
    Condition.NO_NEW_DATA: (GET_CRAWLER,),  # targets and exclusions for the advice
    Condition.STARTED: (),
}


class CrawlerReadError(RuntimeError):
    """GetCrawler/GetTags failed for a reason other than 'no such crawler' (the invocation is retried)."""


class CrawlerRemediator:
    """The Glue crawler watchdog: scope by name prefix, facts from GetCrawler (+ GetTags when acting)."""

    resource_type = ResourceType.CRAWLER
    read_permissions: tuple[str, ...] = tuple(sorted({p for reads in CONDITIONS.values() for p in reads}))
    #: IAM actions :meth:`discover` needs (the sweep's own reads for this runbook)
    discovery_permissions: tuple[str, ...] = DISCOVERY_PERMISSIONS
    #: IAM actions :meth:`evidence` needs (reads for people, after the decision is recorded)
    evidence_permissions: tuple[str, ...] = EVIDENCE_PERMISSIONS
    action_names: tuple[str, ...] = ("stop_crawler", "start_crawler")
    steps = STEPS

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def discover(self, ctx: DiscoveryContext) -> list[Found]:
        """What the scheduled sweep finds for this runbook (:mod:`.discover`): no event needed."""
        from watchdogs.runbooks.crawler.discover import discover  # noqa: PLC0415 - sweep only (cold start)

        return discover(ctx)

    def in_scope(self, finding: Finding) -> bool:
        """Judged on what is acted on: the crawler's name (``resource_id``), in this account and region."""
        name = finding.resource_id
        if not any(name.startswith(prefix) for prefix in self.settings.crawler_prefixes):
            return False
        foreign = foreign_origin(finding.facts, self.settings.account_id, self.settings.region)
        if foreign is not None:
            logger.warning("crawler finding from elsewhere: ignored", crawler=name, reason=foreign)
            return False
        return True

    # --- reads ----------------------------------------------------------------------------------------------
    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """Read only what the runbook step needs: GetCrawler before any decision that may act (the re-read just
        before the action) and GetTags only when about to act or to judge a crawler stuck."""
        condition = finding.condition
        if not CONDITIONS.get(condition):
            return {}
        if condition is Condition.RECOVERED:
            return self._recovered(finding, state).as_dict()
        facts = self._get_crawler(finding.resource_id)
        incident = state.incidents.get(condition)
        if facts.gone:
            return facts.as_dict()
        if (condition is Condition.FAILED and restart_due(finding, facts, incident)) or (
            condition is Condition.STUCK and reset_due(facts, incident)
        ):
            facts = facts.with_tags(self._tags(finding), self.settings)
        return facts.as_dict()

    def _recovered(self, finding: Finding, state: ResourceState) -> CrawlerFacts:
        # resolve only what the crawler itself confirms: a late or duplicated Succeeded event of an earlier crawl
        # must not close the incident of a crawl that hangs now (one GetCrawler, only if one is open)
        confirmed = self._get_crawler(finding.resource_id) if state.active() else CrawlerFacts()
        if finding.facts.get("changed_anything", True):
            return confirmed
        tags = self._tags(finding)  # the expect-new-data tag decides; opt-out does not stop a resolve
        expected = expects_new_data(tags or {}, self.settings.crawler_expect_new_data)
        return confirmed.model_copy(update={"expect_new_data": expected})

    def _get_crawler(self, name: str) -> CrawlerFacts:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        from watchdogs.incidents import now_utc  # noqa: PLC0415

        try:
            crawler = self.clients.glue.get_crawler(Name=name)["Crawler"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return CrawlerFacts(exists=False)
            raise CrawlerReadError(f"GetCrawler {name}: {exc}") from exc
        return CrawlerFacts.from_get_crawler(dict(crawler), now_utc())

    def _tags(self, finding: Finding) -> dict[str, str] | None:
        account = self.settings.account_id or str(finding.facts.get("account_id") or "")
        if not account:
            logger.warning("cannot read crawler tags: no account id", crawler=finding.resource_id)
            return None
        from botocore.exceptions import ClientError  # noqa: PLC0415

        arn = crawler_arn(self.settings.region, account, finding.resource_id)
        try:
            return dict(self.clients.glue.get_tags(ResourceArn=arn).get("Tags") or {})
        except ClientError as exc:
            raise CrawlerReadError(f"GetTags {arn}: {exc}") from exc

    def evidence(self, finding: Finding, facts: dict[str, Any], box: TimeBox) -> list[Evidence]:
        """What the runbook tells a person to look at (:mod:`.evidence`): the failed crawl's log lines; for a crawl
        that found no new data, whether S3 holds objects newer than it under the targets."""
        from watchdogs.runbooks.crawler.evidence import gather  # noqa: PLC0415 - only when gathering (cold start)

        return gather(self.clients, finding.condition, finding.resource_id, facts, box)

    # --- decision (pure) ------------------------------------------------------------------------------------
    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        condition = finding.condition
        read = CrawlerFacts.from_dict(facts)
        if condition is Condition.FAILED:
            return decide_failed(finding, read, incident, self.settings, now)
        if condition is Condition.STUCK:
            return decide_stuck(finding, read, incident, self.settings, now)
        if condition is Condition.RECOVERED:
            return decide_recovered(finding, read, state, self.settings, now)
        if condition is Condition.NO_NEW_DATA:
            return decide_no_new_data(finding, read)
        if condition is Condition.STARTED:
            return decide_started(finding, state, now)
        return ignore(f"Crawler {finding.resource_id}: {condition.value} is not a crawler condition.", "unsupported")
