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

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("engagement-tracker")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

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
