"""Route events through the *deployed* EventBridge rules to the deployed functions' handlers, in-process.

For each event the router does what EventBridge and Lambda would: match it against every enabled rule's pattern
(moto's own EventBridge pattern matcher: exact values, ``prefix``, ``anything-but``, ``exists``, ``numeric``, ...),
and for each target function call its ``Handler`` (imported from the deployed handler string) with that
function's deployed environment, plus ``AWS_ENDPOINT_URL`` pointing at the emulator. Schedule rules are fired by
:meth:`Router.tick` with a real-shaped ``Scheduled Event``.

A template/code mismatch therefore shows here: a missing rule routes nothing, a wrong pattern does not match, a
wrong handler path does not import, a wrong environment variable name fails the settings validation.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from watchdogs_local.emulator import ACCOUNT, FAKE_CREDENTIALS, REGION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from watchdogs_local.emulator import DeployedFunction, DeployedRule, Deployment


#: what Lambda sets per function rather than per configuration: functions whose deployed environments are equal
#: share the cached runtime (rebuilding boto3 clients on every switch would dominate the demo's run time)
_PER_FUNCTION_RUNTIME = frozenset({"AWS_LAMBDA_FUNCTION_NAME"})


def _settings_variables() -> set[str]:
    """Every variable the watchdogs read: any the function does not declare must not leak in from this shell."""
    from watchdogs.settings import Settings  # noqa: PLC0415

    return {f.alias for f in Settings.model_fields.values() if f.alias}


class LocalContext:
    """The Lambda context object a handler receives."""

    def __init__(self, function: DeployedFunction) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = function.arn
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Delivery:
    """One invocation: which rule matched, which function ran, what it returned (or raised)."""

    at: datetime
    rule: str  # rule logical id ("" for a direct invoke)
    function: str  # function logical id
    event: dict[str, Any]
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not (isinstance(self.result, dict) and self.result.get("outcome") == "rejected")


@dataclass
class Router:
    """Matches events against the deployment's rules and runs the targets' handlers in-process."""

    deployment: Deployment
    #: the emulator's endpoint (with its fake credentials); ignored when ``target_environment`` is given
    endpoint: str = ""
    #: how the handlers reach AWS instead (e.g. ``{"AWS_PROFILE": "x", "AWS_ACCESS_KEY_ID": None}``; None unsets)
    target_environment: dict[str, str | None] | None = None
    region: str = REGION
    #: extra variables for every invocation (e.g. a fault-injection flag); the deployed environment wins
    extra_environment: dict[str, str] = field(default_factory=dict)
    #: where the handlers' structured logs and EMF metrics go (default: discarded into a buffer)
    log_stream: IO[str] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    #: what the API calls made by handlers are counted under (:class:`ApiCallMeter`); default: the function
    label: str | None = None
    _active_environment: str | None = field(default=None, init=False)

    # -------------------------------------------------------------------------------------------- matching
    def matching_rules(self, event: dict[str, Any]) -> list[DeployedRule]:
        """The enabled event-pattern rules of the deployment that match ``event``."""
        from moto.events.models import EventPattern, EventPatternParser  # noqa: PLC0415 - dev-only dependency

        matched = []
        for rule in self.deployment.rules:
            if rule.state != "ENABLED" or rule.event_pattern is None:
                continue
            raw = json.dumps(rule.event_pattern)
            if EventPattern(raw, EventPatternParser(raw).parse()).matches_event(event):  # type: ignore[arg-type]
                matched.append(rule)
        return matched

    def targets(self, rule: DeployedRule) -> list[DeployedFunction]:
        functions = []
        for arn in rule.targets:
            function = self.deployment.function_by_arn(arn)
            if function is not None:
                functions.append(function)
        return functions

    # -------------------------------------------------------------------------------------------- routing
    def route(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver ``event`` to every function whose rule matches it (none: the event is dropped, as in AWS)."""
        delivered = []
        for rule in self.matching_rules(event):
            for function in self.targets(rule):
                delivered.append(self.invoke(function, event, rule=rule.logical_id))
        return delivered

    def tick(self, now: datetime | None = None) -> list[Delivery]:
        """Fire every enabled schedule rule once (a sweep period elapsed)."""
        moment = now or datetime.now(UTC)
        delivered = []
        for rule in self.deployment.rules:
            if rule.state != "ENABLED" or not rule.schedule:
                continue
            event = scheduled_event(rule.name, moment)
            for function in self.targets(rule):
                delivered.append(self.invoke(function, event, rule=rule.logical_id))
        return delivered

    def invoke(self, function: DeployedFunction, event: dict[str, Any], *, rule: str = "") -> Delivery:
        """Run ``function``'s handler on ``event`` with its deployed environment (as Lambda would)."""
        from watchdogs.runtime import reset_runtime  # noqa: PLC0415

        delivery = Delivery(at=datetime.now(UTC), rule=rule, function=function.logical_id, event=event)
        started = time.perf_counter()
        with self.environment_of(function) as environment:
            fingerprint = json.dumps(
                {k: v for k, v in environment.items() if k not in _PER_FUNCTION_RUNTIME}, sort_keys=True
            )
            if self._active_environment != fingerprint:
                # settings and clients are cached per process (a Lambda container): another environment, reset
                reset_runtime()
                self._active_environment = fingerprint
            _invocation.label = self.label or function.logical_id
            try:
                handler = resolve_handler(function.handler)
                with self._captured_output():
                    delivery.result = handler(event, LocalContext(function))
            except Exception as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
            finally:
                _invocation.label = None
        delivery.duration_ms = (time.perf_counter() - started) * 1000
        self.deliveries.append(delivery)
        return delivery

    def release(self) -> None:
        """Forget the runtime cached for the last function (call when done routing)."""
        from watchdogs.runtime import reset_runtime  # noqa: PLC0415

        reset_runtime()
        self._active_environment = None

    # -------------------------------------------------------------------------------------------- environment
    @contextlib.contextmanager
    def environment_of(self, function: DeployedFunction) -> Iterator[dict[str, str]]:
        """``os.environ`` as the function sees it in Lambda: its deployed variables, runtime ones, nothing else of
        the watchdogs' from this shell. Restored afterwards."""
        target = (
            self.target_environment
            if self.target_environment is not None
            else {"AWS_ENDPOINT_URL": self.endpoint, **FAKE_CREDENTIALS}
        )
        wanted: dict[str, str | None] = {
            **self.extra_environment,
            **{key: str(value) for key, value in function.environment.items()},
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_SAM_LOCAL": "true",  # what sam local sets: Powertools Tracer stays off without an X-Ray daemon
            "POWERTOOLS_TRACE_DISABLED": "true",
            **target,
        }
        managed = _settings_variables() | {"AWS_ENDPOINT_URL"} | set(wanted)
        saved = {key: os.environ.get(key) for key in managed}
        try:
            for key in managed:
                value = wanted.get(key)
                if value is None:  # not declared for the function (or explicitly unset): absent, as in Lambda
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            yield {k: v for k, v in wanted.items() if v is not None}
        finally:
            for key, previous in saved.items():
                if previous is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = previous

    @contextlib.contextmanager
    def _captured_output(self) -> Iterator[None]:
        """Handler logs (Powertools JSON) and EMF metrics go to ``log_stream``, not into the demo's output."""
        sink: IO[str] = self.log_stream or io.StringIO()
        handlers = [
            h
            for h in logging.getLogger("lakehouse-watchdogs").handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        previous = [h.setStream(sink) for h in handlers]
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                if stream is not None:
                    handler.setStream(stream)


_invocation = threading.local()


class ApiCallMeter:
    """Counts the AWS API calls the handlers make (botocore ``before-call``), by label and operation.

    Registered as a botocore built-in handler, so every session created while it is installed counts; calls made
    outside a routed invocation (the demo's own reads, the emulator's Step Functions tasks) are not counted.
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._entry = ("before-call", self._on_call)

    def install(self) -> ApiCallMeter:
        from botocore import handlers  # noqa: PLC0415

        if self._entry not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(self._entry)
        return self

    def uninstall(self) -> None:
        from botocore import handlers  # noqa: PLC0415

        if self._entry in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.remove(self._entry)

    def _on_call(self, model: Any, **_: Any) -> None:
        label = getattr(_invocation, "label", None)
        if label:
            self.calls[(label, f"{model.service_model.service_name}.{model.name}")] += 1

    def of(self, label: str) -> dict[str, int]:
        return {op: n for (lab, op), n in sorted(self.calls.items()) if lab == label}

    @staticmethod
    def mutating(calls: dict[str, int]) -> dict[str, int]:
        """The calls that change something (the watchdogs' own incident/idempotency writes included)."""
        read = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")
        return {op: n for op, n in calls.items() if not op.split(".", 1)[1].startswith(read)}


def resolve_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import ``module.path.function`` (a Lambda ``Handler`` string relative to the code root)."""
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {handler!r} is not module.function")
    module = importlib.import_module(module_name)
    function: Callable[[dict[str, Any], Any], Any] = getattr(module, attribute)
    return function


def scheduled_event(rule_name: str, moment: datetime) -> dict[str, Any]:
    """The event EventBridge sends a target when a schedule rule fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }
