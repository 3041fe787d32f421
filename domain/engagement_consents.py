"""What an engagement's people agree to beside the workflow: the coachee's ICF-log consent, the
testimonial at closing, and what the sponsor may see (disclosure).

Each command is a method of :class:`engagement.Engagement`, written here as a function of the
aggregate (``self``) and assigned to the class there: it checks, then raises, then records one
event, as every command of the aggregate does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from engagement_tracker.domain.checks import (
    require_member,
    require_time,
)
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import InvalidInput, RuleViolation
from engagement_tracker.domain.testimonials import AT_CLOSING, require_first
from engagement_tracker.domain.values import Actor, Testimonial
from engagement_tracker.domain.vocabulary import DisclosureItem
from engagement_tracker.domain.workflow_aggregate import require_actor


def consent_to_icf_log(self: EngagementHistory, actor: Actor, at: datetime, named: bool) -> None:
    """The coachee agrees (or no longer agrees) to be named in the coach's ICF hours log.

    A standing consent, not a workflow step: it may be given or withdrawn in every state,
    after closing too (a coach often applies for a credential later), and never changes it.
    """
    require_time(at)
    self.require_party("consent_to_icf_log", require_actor(actor))
    to = self.state
    if not isinstance(named, bool):
        raise InvalidInput("named", f"expected true or false, got {type(named).__name__}")
    if named == self.icf_named:
        now = "named" if named else "not named"
        raise InvalidInput("named", f"the coachee is already {now} in the coach's ICF log; give {not named}")
    self._record(self.IcfLogConsentChanged, actor, at, to, named=named)


def leave_testimonial(self: EngagementHistory, actor: Actor, at: datetime, testimonial: Testimonial) -> None:
    """The coachee leaves a voluntary testimonial at closing (domain/testimonials.py); one each."""
    require_time(at)
    check_testimonial(self, actor)
    if not isinstance(testimonial, Testimonial):
        raise InvalidInput("testimonial", "expected a Testimonial (domain/testimonials.py make_testimonial)")
    self._record(self.TestimonialLeft, actor, at, self.state, testimonial=testimonial)


def check_testimonial(self: EngagementHistory, actor: Actor) -> None:
    """Refuse, before any text is sealed, a testimonial ``actor`` may not leave now."""
    self.require_party("leave_testimonial", require_actor(actor))
    if self.state not in AT_CLOSING:
        raise RuleViolation("leave_testimonial", self.state,
                            [f"left in closing or closed; the engagement is {self.state}"])
    require_first(self.testimonial_authors, str(actor.party))


def propose_disclosure(self: EngagementHistory, actor: Actor, at: datetime, items: Iterable[DisclosureItem | str]) -> None:
    """The coachee or the sponsor proposes what the sponsor may see; the other one accepts."""
    to = self._step("propose_disclosure", actor, at)
    if isinstance(items, (str, bytes)):
        raise InvalidInput("items", "expected a list of items")
    chosen = sorted({require_member(DisclosureItem, i, "items").value for i in items})
    self._record(self.DisclosureProposed, actor, at, to, items=chosen)


def accept_disclosure(self: EngagementHistory, actor: Actor, at: datetime) -> None:
    to = self._step("accept_disclosure", actor, at, {"role": actor.role.value})
    proposal = self.disclosure_proposal or {"items": []}  # the guard checked there is one
    self._record(self.DisclosureAgreed, actor, at, to, items=list(proposal["items"]))
