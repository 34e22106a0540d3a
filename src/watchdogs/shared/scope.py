"""Where a resource lives: the watchdogs act by name in their own account and region only.

A crawler or a workgroup is named without its account or region, so an event forwarded from another account or
region (a cross-account or cross-region event bus) would otherwise make a watchdog act on the resource of the same
name in its own account. Event findings carry the event's account and region as facts; the remediators refuse
findings whose origin is not home, before any AWS call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

#: the fact keys an event finding records its origin under (``account_id`` is the service's own claim, e.g. Glue's
#: ``detail.accountId``; ``event_account`` / ``event_region`` are the envelope's ``account`` / ``region``)
ORIGIN_ACCOUNT_FACTS = ("account_id", "event_account")
ORIGIN_REGION_FACT = "event_region"


def foreign_origin(facts: Mapping[str, Any], home_account: str, home_region: str) -> str | None:
    """Why the finding is about a resource outside the home account/region, or ``None`` when it is not.

    A missing claim is no objection (sweep findings carry none: the sweep lists its own account); an account is
    only compared when the home account is known (``ACCOUNT_ID``)."""
    for key in ORIGIN_ACCOUNT_FACTS:
        claimed = facts.get(key)
        if home_account and claimed and str(claimed) != home_account:
            return f"{key} {claimed} is not this account ({home_account})"
    region = facts.get(ORIGIN_REGION_FACT)
    if home_region and region and str(region) != home_region:
        return f"region {region} is not this region ({home_region})"
    return None
