"""The outside world: storage, key vault, CLI, sample data."""

from engagement_tracker.adapters.bootstrap import open_tracker, system_clock

__all__ = ["open_tracker", "system_clock"]
