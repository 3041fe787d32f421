"""The outside world: storage, key vault, CLI, sample data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engagement_tracker.adapters.bootstrap import open_tracker, system_clock

__all__ = ["open_tracker", "system_clock"]


def __getattr__(name: str) -> Any:
    """``open_tracker`` and ``system_clock`` on first use: the command line imports this package first."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from engagement_tracker.adapters import bootstrap

    value = getattr(bootstrap, name)
    globals()[name] = value
    return value
