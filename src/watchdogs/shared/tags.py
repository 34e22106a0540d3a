"""Per-resource tags every watchdog reads the same way: the opt-out tag and the stuck-threshold tag."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: the only values that switch a present opt-out tag off (compared stripped and case-insensitively)
OPT_OUT_OFF_VALUES = frozenset({"false", "no", "0", "off"})
#: a threshold tag may lower a threshold down to this floor (or the default, when that is lower). The sweep never
#: reads the tags of a resource running for less than the floor, so a lower tag could never take effect anyway.
TAG_FLOOR_SECONDS = 300

_TRUE = frozenset({"true", "yes", "1", "on", "enabled"})
_FALSE = frozenset({"false", "no", "0", "off", "disabled"})


def is_opted_out(tags: Mapping[str, str], key: str) -> bool:
    """Whether the opt-out tag ``key`` keeps the watchdogs away from a resource.

    The tag being present opts the resource out, whatever its value (including an empty value), unless the value
    is explicitly one of ``false``, ``no``, ``0``, ``off`` (case-insensitive, surrounding spaces ignored).

    So ``watchdogs:opt-out=enabled`` and ``watchdogs:opt-out=disabled`` both opt out. ``disabled`` can be read two
    ways ("the opt-out is disabled" or "the watchdog is disabled here"); an ambiguous value resolves to leaving the
    resource alone, because honouring an opt-out by mistake only leaves a resource to its human owners, while
    ignoring one by mistake lets an automated action touch a resource someone asked to exclude.
    """
    if key not in tags:
        return False
    return str(tags[key]).strip().lower() not in OPT_OUT_OFF_VALUES


def tag_flag(value: str | None) -> bool | None:
    """A boolean tag (e.g. ``watchdogs:expect-new-data``): ``true/yes/1/on/enabled`` (or empty) is true,
    ``false/no/0/off/disabled`` is false, anything else (or no tag) is ``None``: the setting decides."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _FALSE:
        return False
    if lowered in _TRUE or lowered == "":
        return True
    return None


def tag_floor(default: int) -> int:
    """The shortest threshold a tag may set for a resource whose default is ``default``."""
    return min(default, TAG_FLOOR_SECONDS)


class TagThreshold(NamedTuple):
    """A threshold read from tags: the seconds, where they came from (``tag`` / ``default``), and what was wrong
    with the tag, if anything (to report, never to fail on)."""

    seconds: int
    source: str
    problem: str | None


def threshold_from_tags(tags: Mapping[str, str], key: str, default: int) -> TagThreshold:
    """Seconds after which a resource is stuck: the tag's whole number of seconds, raised to the floor
    (:func:`tag_floor`) when below it; the default when the tag is absent or not a whole number."""
    raw = tags.get(key)
    if raw is None:
        return TagThreshold(default, "default", None)
    try:
        value = int(str(raw).strip())
    except ValueError:
        return TagThreshold(
            default, "default", f"tag {key}={raw!r} is not a number of seconds: default {default}s used"
        )
    floor = tag_floor(default)
    if value < floor:
        return TagThreshold(floor, "tag", f"tag {key}={value} is below the floor of {floor}s: {floor}s used")
    return TagThreshold(value, "tag", None)


def tags_from_pairs(pairs: Iterable[Mapping[str, object]], key: str = "key", value: str = "value") -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` (Step Functions) or ``[{"Key": k, "Value": v}]`` (Athena) as a dict."""
    return {str(pair[key]): str(pair.get(value, "")) for pair in pairs if key in pair}
