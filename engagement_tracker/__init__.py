"""engagement-tracker: an event-sourced domain core for professional coaching.

The repository keeps three folders, one per layer: ``domain/`` (aggregates, workflows, values,
errors, the application), ``projections/`` (read models derived from events) and ``adapters/``
(storage, key vault, command line). They install as this one package:
``engagement_tracker.domain``, ``engagement_tracker.projections``, ``engagement_tracker.adapters``,
so nothing generic lands at the top of site-packages.

The names most embedding code needs are here::

    from engagement_tracker import open_tracker, Actor, Role
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engagement_tracker.adapters.bootstrap import open_tracker, system_clock
    from engagement_tracker.domain import (
        AlreadyExists,
        CapacityExceeded,
        ConcurrencyConflict,
        EngagementTracker,
        EtrackError,
        HistoryRewritten,
        InconsistentCheckpoint,
        InvalidInput,
        NotFound,
        NotPermitted,
        Role,
        RuleViolation,
        SealingError,
        StepNotAllowed,
        StoreError,
        SubjectErased,
        WitnessRefusal,
    )
    from engagement_tracker.domain.values import Actor

    __version__: str

# Each name is imported on first use (PEP 562): the command line imports this package first, and
# a command should pay only for the modules it uses (``etrack --help`` uses none of these).
_WHERE: dict[str, str] = {
    "open_tracker": "engagement_tracker.adapters.bootstrap",
    "system_clock": "engagement_tracker.adapters.bootstrap",
    "Actor": "engagement_tracker.domain.values",
    **dict.fromkeys(("AlreadyExists", "CapacityExceeded", "ConcurrencyConflict", "EtrackError", "HistoryRewritten",
                     "InconsistentCheckpoint", "InvalidInput", "NotFound", "NotPermitted", "RuleViolation",
                     "SealingError", "StepNotAllowed", "StoreError", "SubjectErased", "WitnessRefusal"),
                    "engagement_tracker.domain.errors"),
    "EngagementTracker": "engagement_tracker.domain.application",
    "Role": "engagement_tracker.domain.vocabulary",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("engagement-tracker")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "Actor",
    "AlreadyExists",
    "CapacityExceeded",
    "ConcurrencyConflict",
    "EngagementTracker",
    "EtrackError",
    "HistoryRewritten",
    "InconsistentCheckpoint",
    "InvalidInput",
    "NotFound",
    "NotPermitted",
    "Role",
    "RuleViolation",
    "SealingError",
    "StepNotAllowed",
    "StoreError",
    "SubjectErased",
    "WitnessRefusal",
    "__version__",
    "open_tracker",
    "system_clock",
]
