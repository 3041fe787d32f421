"""The application layer: the command path, the services, the step catalogue, the role-filtered views.

Callers (the CLI, the pages, embedding code) use only this layer; it uses the model (``domain/``)
and ``eventsourcing.application``, never a concrete backend (``adapters/bootstrap.py`` wires one).
"""

from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.confidential import ERASED
from engagement_tracker.domain.application.tracker import EngagementTracker
from engagement_tracker.domain.application.transcodings import register_value_transcodings
from engagement_tracker.domain.checks import as_uuid

__all__ = ["ERASED", "CohortService", "EngagementTracker", "as_uuid", "register_value_transcodings"]
