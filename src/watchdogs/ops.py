"""``watchdogs-ops``: the on-call engineer's handle on the incident table.

    watchdogs-ops --table TABLE open                       # active incidents, newest first (open-index, no scan)
    watchdogs-ops --table TABLE show crawler NAME          # one resource: active incidents, budget, history
    watchdogs-ops --table TABLE ack crawler NAME --by ME   # lift a quarantine and reset the action budget

``--profile`` / ``--region`` / ``--endpoint`` choose the account (or an emulator); ``--table`` defaults to
``INCIDENT_TABLE``. Output is JSON, for people and scripts alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import IncidentStore
from watchdogs.models.domain import ResourceType

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watchdogs-ops", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--table", default=os.environ.get("INCIDENT_TABLE", ""), help="incident table name")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--endpoint", help="endpoint URL (an emulator)")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("open", help="list active incidents, newest first")
    listing.add_argument("--limit", type=int, default=100)
    for name, text in (("show", "one resource's incidents and budget"), ("ack", "lift quarantine, reset budget")):
        command = sub.add_parser(name, help=text)
        command.add_argument("resource_type", choices=[t.value for t in ResourceType])
        command.add_argument("resource_id", help="crawler name, query execution id or execution ARN")
        if name == "ack":
            command.add_argument("--by", required=True, help="who acknowledges (recorded on the budget item)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.table:
        print("watchdogs-ops: give --table or set INCIDENT_TABLE", file=sys.stderr)
        return 2
    import boto3  # noqa: PLC0415 - a CLI: only after the arguments are valid

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    store = IncidentStore(args.table, session.client("dynamodb", endpoint_url=args.endpoint))
    output: Any
    if args.command == "open":
        output = [incident.model_dump(mode="json", exclude={"timeline"}) for incident in store.list_open(args.limit)]
    else:
        resource_type = ResourceType(args.resource_type)
        if args.command == "ack":
            store.acknowledge(resource_type, args.resource_id, operator=args.by)
        state = store.load(resource_type, args.resource_id)
        output = {
            "resource": f"{resource_type.value}#{args.resource_id}",
            "quarantined_until": state.budget.quarantined_until,
            "quarantine_reason": state.budget.quarantine_reason,
            "recent_actions": len(state.budget.action_times),
            "active": [i.model_dump(mode="json") for i in state.active()],
        }
        if args.command == "show":
            output["history"] = [
                i.model_dump(mode="json", exclude={"timeline"}) for i in store.history(resource_type, args.resource_id)
            ]
    json.dump(output, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
