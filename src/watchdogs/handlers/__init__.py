"""Lambda entry points, one per event source plus the sweep: wiring only (decorators, one ``handle_event`` call)."""
