"""Who acts: the value every command and every read names (``Actor``), in a module of its own.

Persisted inside events under the transcoding name ``etrack.actor`` (registered with the other values
in ``values.py``, which re-exports it). Kept apart so that a read that only checks a grant
(``adapters/view_reads.py``) builds this one attrs class, not every value object of the domain.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from engagement_tracker.domain.vocabulary import Role, _to_Role


def _as_uuid(raw: object) -> UUID:
    return raw if isinstance(raw, UUID) else UUID(str(raw))


@attrs.frozen
class Actor:
    """Who acts: a pseudonymous party id and the role it acts in."""

    party: UUID = attrs.field(converter=_as_uuid)
    role: Role = attrs.field(converter=_to_Role)

    def __str__(self) -> str:
        return f"{self.role.value}:{self.party}"
