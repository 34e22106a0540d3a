"""One validated settings model, read from the environment variables that ``template.yaml`` declares.

Domain code never reads ``os.environ``: handlers call :func:`get_settings` once per cold start and pass the
result down. A missing or invalid variable fails at start with a message naming the variable.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from watchdogs.shared.arns import partition_for_region


class Mode(StrEnum):
    OBSERVE = "observe"  # record and notify what it *would* do
    REMEDIATE = "remediate"  # act


#: services whose mode can be set on its own (``ResourceType`` values); the rest follow ``WATCHDOG_MODE``
SERVICES = ("crawler", "query", "execution")

#: shortest crawler / state machine name prefix accepted in scope. Mutating IAM grants are as wide as the prefixes
#: (``crawler/<prefix>*``): a 3-7 character prefix such as ``etl`` or ``prod-`` names a whole account's resources,
#: while 8 or more carry a project or environment word (``lakehouse-``, ``etl-prod-``).
MIN_SCOPE_PREFIX_LENGTH = 8


class SettingsError(RuntimeError):
    """Raised at start when the environment does not hold valid settings; names every bad variable."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], Field(default_factory=list)]


class Settings(BaseModel):
    """Every knob of the watchdogs. Field aliases are the environment variable names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    environment: str = Field(alias="ENVIRONMENT", min_length=1, description="Environment name (sandbox, prod, ...)")
    mode: Mode = Field(alias="WATCHDOG_MODE", description="observe: record and notify only; remediate: act")
    # per-service overrides of ``mode`` ("" or unset = follow WATCHDOG_MODE)
    crawler_mode: Mode | None = Field(default=None, alias="WATCHDOG_MODE_CRAWLER")
    query_mode: Mode | None = Field(default=None, alias="WATCHDOG_MODE_QUERY")
    execution_mode: Mode | None = Field(default=None, alias="WATCHDOG_MODE_EXECUTION")
    incident_table: str = Field(alias="INCIDENT_TABLE", min_length=3)
    alert_topic_arn: str = Field(alias="ALERT_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    account_id: str = Field(default="", alias="ACCOUNT_ID", pattern=r"^(\d{12})?$", description="for resource ARNs")
    region: str = Field(default="us-east-1", alias="AWS_REGION", min_length=1)
    # --- alerts: what links and commands in a message need ------------------------------------------------
    stack_name: str = Field(default="", alias="STACK_NAME", description="for the watchdogs-ops commands in alerts")
    docs_base_url: str = Field(
        default="", alias="DOCS_BASE_URL", pattern=r"^(https://\S+)?$", description="where docs/*.md are browsable"
    )

    # --- scope: what the watchdogs may touch --------------------------------------------------------------
    crawler_prefixes: CsvList = Field(alias="SCOPE_CRAWLER_PREFIXES")
    state_machine_arn_prefixes: CsvList = Field(alias="SCOPE_STATE_MACHINE_ARN_PREFIXES")
    workgroups: CsvList = Field(alias="SCOPE_WORKGROUPS")
    opt_out_tag: str = Field(default="watchdogs:opt-out", alias="OPT_OUT_TAG", min_length=1)
    threshold_tag: str = Field(default="watchdogs:stuck-after-seconds", alias="THRESHOLD_TAG", min_length=1)

    # --- thresholds (seconds) -----------------------------------------------------------------------------
    crawler_stuck_seconds: int = Field(default=2700, alias="CRAWLER_STUCK_SECONDS", ge=1)
    crawler_stopping_seconds: int = Field(default=900, alias="CRAWLER_STOPPING_SECONDS", ge=1)
    query_stuck_seconds: int = Field(default=1500, alias="QUERY_STUCK_SECONDS", ge=1)
    workgroup_query_stuck_seconds: dict[str, int] = Field(default_factory=dict, alias="WORKGROUP_QUERY_STUCK_SECONDS")
    execution_stuck_seconds: int = Field(default=7200, alias="EXECUTION_STUCK_SECONDS", ge=1)
    crawler_expect_new_data: bool = Field(default=False, alias="CRAWLER_EXPECT_NEW_DATA")

    # --- safety budgets -----------------------------------------------------------------------------------
    budget_max_actions: int = Field(default=3, alias="BUDGET_MAX_ACTIONS", ge=0)
    budget_window_seconds: int = Field(default=21600, alias="BUDGET_WINDOW_SECONDS", ge=1)
    quarantine_seconds: int = Field(default=86400, alias="QUARANTINE_SECONDS", ge=1)
    lease_seconds: int = Field(default=120, alias="LEASE_SECONDS", ge=1)
    incident_ttl_days: int = Field(default=90, alias="INCIDENT_TTL_DAYS", ge=1)

    # --- Step Functions pipeline ---------------------------------------------------------------------------
    pipeline_workgroup: str = Field(default="", alias="PIPELINE_WORKGROUP")
    state_wait_rules: list[dict[str, str]] = Field(default_factory=list, alias="STATE_WAIT_RULES")
    metadata_table: str = Field(default="", alias="METADATA_TABLE")
    metadata_pipeline_attr: str = Field(default="pipeline_name", alias="METADATA_PIPELINE_ATTR")
    metadata_date_attr: str = Field(default="execution_date", alias="METADATA_DATE_ATTR")
    metadata_status_attr: str = Field(default="status", alias="METADATA_STATUS_ATTR")
    metadata_execution_attr: str = Field(default="execution_arn", alias="METADATA_EXECUTION_ATTR")
    metadata_status_index: str = Field(default="status-index", alias="METADATA_STATUS_INDEX")

    # --- sweep ----------------------------------------------------------------------------------------------
    sweep_lookback_seconds: int = Field(default=7200, alias="SWEEP_LOOKBACK_SECONDS", ge=60)
    # --- one-shot stuck timers (docs/timers.md): all three set, or timers are off and the sweep alone detects ---
    timer_group: str = Field(default="", alias="TIMER_SCHEDULE_GROUP", pattern=r"^[0-9a-zA-Z._-]{0,64}$")
    #: what a timer invokes, per resource type (JSON): the event function of that resource's own service
    timer_targets: dict[str, str] = Field(default_factory=dict, alias="TIMER_TARGETS")
    timer_role_arn: str = Field(default="", alias="TIMER_ROLE_ARN")
    #: where Scheduler dead-letters a timer it could not deliver ("" = Scheduler's defaults, no queue)
    timer_dead_letter_arn: str = Field(default="", alias="TIMER_DEAD_LETTER_ARN")
    #: a step no event announces (a stopped crawler READY again) is looked at again after this, then 2x, 4x, 8x
    step_follow_up_seconds: int = Field(default=30, alias="STEP_FOLLOW_UP_SECONDS", ge=1, le=3600)

    @field_validator("crawler_prefixes", "state_machine_arn_prefixes", "workgroups", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("crawler_mode", "query_mode", "execution_mode", mode="before")
    @classmethod
    def _inherit(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("crawler_prefixes", "state_machine_arn_prefixes")
    @classmethod
    def _meaningful_prefixes(cls, value: list[str]) -> list[str]:
        # a state machine ARN prefix is judged by its name part: the account and region are not a scope
        short = [p for p in value if len(p.rpartition(":stateMachine:")[2]) < MIN_SCOPE_PREFIX_LENGTH]
        if short:
            raise ValueError(
                f"prefixes shorter than {MIN_SCOPE_PREFIX_LENGTH} characters would put too much in scope: "
                + ", ".join(repr(p) for p in short)
            )
        return value

    @field_validator("workgroup_query_stuck_seconds", "state_wait_rules", "timer_targets", mode="before")
    @classmethod
    def _json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return [] if info.field_name == "state_wait_rules" else {}
            return json.loads(value)  # a JSONDecodeError is a ValueError: pydantic reports it against the variable
        return value

    @field_validator("timer_targets")
    @classmethod
    def _timer_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {"crawler", "query", "execution"})
        if unknown:
            raise ValueError(f"timer targets for unknown resource types: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _scope_is_not_empty(self) -> Settings:
        if not (self.crawler_prefixes or self.state_machine_arn_prefixes or self.workgroups):
            raise ValueError(
                "scope is empty: set at least one of SCOPE_CRAWLER_PREFIXES, "
                "SCOPE_STATE_MACHINE_ARN_PREFIXES, SCOPE_WORKGROUPS"
            )
        return self

    @property
    def partition(self) -> str:
        return partition_for_region(self.region)

    def mode_for(self, service: str) -> Mode:
        """The mode of one service (``crawler``, ``query``, ``execution``): its own if set, else ``WATCHDOG_MODE``."""
        own: Mode | None = getattr(self, f"{service}_mode", None) if service in SERVICES else None
        return own or self.mode

    def modes(self) -> str:
        """The modes in one word when they agree (``observe``), else per service (``crawler=remediate,...``)."""
        modes = {service: self.mode_for(service).value for service in SERVICES}
        if len(set(modes.values())) == 1:
            return next(iter(modes.values()))
        return ",".join(f"{service}={mode}" for service, mode in modes.items())

    def query_threshold(self, workgroup: str) -> int:
        return self.workgroup_query_stuck_seconds.get(workgroup, self.query_stuck_seconds)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Validate settings from ``environ`` (default ``os.environ``); raise :class:`SettingsError` naming variables."""
    source = dict(os.environ if environ is None else environ)
    try:
        return Settings.model_validate(source)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    aliases = {name: field.alias or name for name, field in Settings.model_fields.items()}
    problems = []
    for error in exc.errors():
        loc = error["loc"][0] if error["loc"] else "settings"
        variable = aliases.get(str(loc), str(loc))
        problems.append(f"{variable}: {error['msg']}")
    return "invalid watchdog settings: " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, validated once (cold start)."""
    return load_settings()
