"""Fault injection into the in-process emulator: one resource misbehaves, everything else runs normally.

moto's state manager moves *every* crawl or query of a kind through the same transitions; a demo needs one raw
crawler stuck while the curated one finishes. These hooks act on single moto objects:

* :func:`hold_next_crawl` -- the crawler's next crawl stays RUNNING until someone stops it (then it stops normally);
* :func:`fail_crawl` -- the crawler's current crawl fails now with a given error message;
* :func:`hold_query` -- one Athena query stays in RUNNING until cancelled;
* :func:`fail_queries` -- queries whose text contains a marker fail with a given Athena error;
* :func:`hold_state` -- one pipeline run's task state is scheduled and started, and never returns (a hung dbt
  Lambda): RUNNING until StopExecution.

Nothing here touches the product code; the watchdogs see only the emulator's APIs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs_local.emulator import ACCOUNT, REGION

if TYPE_CHECKING:
    from collections.abc import Callable

#: every crawl/query transition, compressed: how long a normal crawl or query step takes in the demo
CRAWL_SECONDS = 1.0
QUERY_STEP_SECONDS = 0.3


def compress_clock(crawl_seconds: float = CRAWL_SECONDS, query_step_seconds: float = QUERY_STEP_SECONDS) -> None:
    """Normal crawls finish after ``crawl_seconds``, queries advance a state every ``query_step_seconds``."""
    from moto.moto_api import state_manager  # noqa: PLC0415

    state_manager.set_transition("glue::crawl", {"progression": "time", "seconds": crawl_seconds})
    state_manager.set_transition("athena::execution", {"progression": "time", "seconds": query_step_seconds})


def restore_clock() -> None:
    from moto.moto_api import state_manager  # noqa: PLC0415

    state_manager.unset_transition("glue::crawl")
    state_manager.unset_transition("athena::execution")


def _crawler(name: str) -> Any:
    from moto.glue.models import glue_backends  # noqa: PLC0415

    return glue_backends[ACCOUNT][REGION].get_crawler(name)


def _on_next_crawl(name: str, shape: Any) -> None:
    """Run ``shape(crawl)`` on the crawler's next crawl, once, right after it starts."""
    crawler = _crawler(name)
    cls_start = type(crawler).start_crawler

    def start_once() -> None:
        cls_start(crawler)
        shape(crawler.crawls[-1])
        del crawler.start_crawler  # back to the class's behaviour for later crawls

    crawler.start_crawler = start_once


def hold_next_crawl(name: str) -> None:
    """The crawler's next crawl never completes by itself: RUNNING until StopCrawler (then STOPPING -> stopped)."""

    def hold(crawl: Any) -> None:
        final = next((nxt for prev, nxt in crawl._transitions if prev == "STOPPING"), "STOPPED")
        crawl._transitions = [("RUNNING", "RUNNING"), ("STOPPING", final)]

    _on_next_crawl(name, hold)


def fail_crawl(name: str, error_message: str) -> None:
    """The crawler's current crawl fails now with ``error_message`` (Glue's ``LastCrawl.ErrorMessage``)."""
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    set_crawl(name, "FAILED", error_message=error_message)


def crawl_count(name: str) -> int:
    return len(_crawler(name).crawls)


def hold_query(query_execution_id: str) -> None:
    """The query stays RUNNING until StopQueryExecution cancels it."""
    from moto.athena.models import athena_backends  # noqa: PLC0415

    execution = athena_backends[ACCOUNT][REGION].executions[query_execution_id]
    execution._transitions = [("QUEUED", "RUNNING"), ("RUNNING", "RUNNING")]


def fail_queries(marker: str, *, error_message: str, error_category: int = 2, error_type: int = 1000) -> None:
    """Every query started from now on whose text contains ``marker`` fails with this Athena error
    (category 2 = USER: not retryable) once it has run one step."""
    from moto.athena.models import AthenaBackend, athena_backends  # noqa: PLC0415

    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    backend = athena_backends[ACCOUNT][REGION]
    original = AthenaBackend.start_query_execution

    def start(*args: Any, **kwargs: Any) -> Any:
        exec_id = original(backend, *args, **kwargs)
        execution = backend.executions[exec_id]
        if marker in (execution.query or ""):
            execution._transitions = [("QUEUED", "RUNNING"), ("RUNNING", "FAILED")]
            set_query_execution(
                exec_id,
                error_category=error_category,
                error_type=error_type,
                error_message=error_message,
                retryable=False,
                state_change_reason=error_message,
            )
        return exec_id

    backend.start_query_execution = start  # type: ignore[method-assign]


def clear_query_faults() -> None:
    from moto.athena.models import athena_backends  # noqa: PLC0415

    athena_backends[ACCOUNT][REGION].__dict__.pop("start_query_execution", None)


#: (execution ARN, state name) pairs whose task never returns (see :func:`hold_state`)
_HELD_STATES: set[tuple[str, str]] = set()
HOLD_POLL_SECONDS = 0.1


def hold_state(execution_arn: str, state_name: str) -> None:
    """When the run ``execution_arn`` (it may not have started yet) enters the task state ``state_name``, the task
    is scheduled and started (``TaskScheduled``, ``TaskStarted`` in its history, as for a Lambda that was invoked)
    and never completes: the run stays RUNNING in that state until StopExecution (or the emulator's reset)."""
    _patch_task_hold()
    _HELD_STATES.add((execution_arn, state_name))


def _patch_task_hold() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: PLC0415
        StateTaskService,
    )

    original = StateTaskService._eval_state
    if getattr(original, "_watchdogs_hold", False):
        return

    def eval_state(self: Any, env: Any) -> None:
        key = (str(env.states.context_object.context_object_data["Execution"]["Id"]), str(self.name))
        if key not in _HELD_STATES:
            original(self, env)
            return
        _HELD_STATES.discard(key)  # once: a redriven run's next visit runs normally
        self.resource.eval(env=env)  # what the task's own evaluation does up to calling the service
        runtime = env.stack.pop()
        self._before_eval_execution(
            env=env,
            resource_runtime_part=runtime,
            raw_parameters=self._eval_parameters(env=env),
            state_credentials=self._eval_state_credentials(env=env),
        )
        while env.is_running():  # the call never returns; StopExecution ends the program
            env.program_state_event.wait(HOLD_POLL_SECONDS)

    eval_state._watchdogs_hold = True  # type: ignore[attr-defined]
    StateTaskService._eval_state = eval_state  # type: ignore[method-assign]


#: (service, operation) -> (moto backends module, backend method, the error code AWS answers an IAM denial with)
_DENIABLE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("glue", "StopCrawler"): ("moto.glue.models:glue_backends", "stop_crawler", "AccessDeniedException"),
    ("glue", "StartCrawler"): ("moto.glue.models:glue_backends", "start_crawler", "AccessDeniedException"),
    ("athena", "StopQueryExecution"): (
        "moto.athena.models:athena_backends",
        "stop_query_execution",
        "AccessDeniedException",
    ),
    ("dynamodb", "UpdateItem"): ("moto.dynamodb.models:dynamodb_backends", "update_item", "AccessDeniedException"),
    ("sns", "Publish"): ("moto.sns.models:sns_backends", "publish", "AuthorizationError"),
    ("states", "StopExecution"): (
        "moto.stepfunctions.parser.models:stepfunctions_parser_backends",
        "stop_execution",
        "AccessDeniedException",
    ),
}


def deny(service: str, operation: str, *, only_for: str | None = None) -> Callable[[], None]:
    """The watchdogs' role loses ``service:operation`` (on ``only_for``'s table/resource, if given): the emulator
    answers it with the service's authorisation error. Returns the undo."""
    import importlib  # noqa: PLC0415

    location, method, code = _DENIABLE[(service, operation)]
    module_name, attribute = location.split(":")
    backend = getattr(importlib.import_module(module_name), attribute)[ACCOUNT][REGION]
    original = getattr(backend, method)
    message = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/lakehouse-watchdogs/watchdog is not authorized to perform: "
        f"{service}:{operation}" + (f" on resource {only_for}" if only_for else "")
    )

    def denied(*args: Any, **kwargs: Any) -> Any:
        target = kwargs.get("table_name", args[0] if args else None)
        if only_for is None or target == only_for:
            raise _denial(service, code, message)
        return original(*args, **kwargs)

    setattr(backend, method, denied)
    return lambda: backend.__dict__.pop(method, None)


def _denial(service: str, code: str, message: str) -> Exception:
    """The error moto serialises as ``code`` for ``service`` (JSON services vs SNS's query protocol)."""
    if service == "sns":
        from moto.sns.exceptions import SNSException  # noqa: PLC0415

        return type(code, (SNSException,), {"code": code})(message)  # type: ignore[no-any-return]
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    return JsonRESTError(code, message)
