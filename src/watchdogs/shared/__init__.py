"""Rules every watchdog shares, defined once: ARNs and partitions, the per-resource tags (opt-out, stuck
threshold), the home account and region of what is acted on, and the AWS-wide error patterns (throttling, service
faults, access denied).

Pure functions and constants only (``re`` and the standard library): importing this costs no cold start.
"""

from watchdogs.shared.arns import (
    Arn,
    crawler_arn,
    is_express_execution,
    parse_arn,
    partition_for_region,
    state_machine_of,
    unqualified_state_machine,
    workgroup_arn,
)
from watchdogs.shared.errors import (
    ACCESS_DENIED,
    ACCESS_DENIED_PATTERNS,
    SERVICE_FAULT_PATTERNS,
    THROTTLING,
    THROTTLING_PATTERNS,
    TRANSIENT,
    TRANSIENT_PATTERNS,
    compile_patterns,
)
from watchdogs.shared.scope import foreign_origin
from watchdogs.shared.tags import (
    OPT_OUT_OFF_VALUES,
    TAG_FLOOR_SECONDS,
    TagThreshold,
    is_opted_out,
    tag_flag,
    tag_floor,
    tags_from_pairs,
    threshold_from_tags,
)

__all__ = [
    "ACCESS_DENIED",
    "ACCESS_DENIED_PATTERNS",
    "OPT_OUT_OFF_VALUES",
    "SERVICE_FAULT_PATTERNS",
    "TAG_FLOOR_SECONDS",
    "THROTTLING",
    "THROTTLING_PATTERNS",
    "TRANSIENT",
    "TRANSIENT_PATTERNS",
    "Arn",
    "TagThreshold",
    "compile_patterns",
    "crawler_arn",
    "foreign_origin",
    "is_express_execution",
    "is_opted_out",
    "parse_arn",
    "partition_for_region",
    "state_machine_of",
    "tag_flag",
    "tag_floor",
    "tags_from_pairs",
    "threshold_from_tags",
    "unqualified_state_machine",
    "workgroup_arn",
]
