"""``watchdogs-ops``, the operators' command line: incidents (open, show, ack, resolve, note), the rollout report,
a dry-run replay of recorded events and a post-deploy smoke test. The entry point is :func:`main`."""

from watchdogs.ops.cli import main

__all__ = ["main"]
