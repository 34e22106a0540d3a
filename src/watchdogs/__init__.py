"""Lakehouse Watchdogs: self-healing Lambda watchdogs for a Glue / Athena / Step Functions lakehouse."""

__version__ = "0.1.0"
