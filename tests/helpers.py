"""Test plumbing: the in-process rig of the application layer (`tonle.app.rig`), under its old name."""

from tonle.app.rig import WAIT_S, config_for, count, running_collector, wait_for

__all__ = ["WAIT_S", "config_for", "count", "running_collector", "wait_for"]
