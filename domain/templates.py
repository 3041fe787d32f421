"""ProgrammeTemplates: the named templates a programme's admin declares (one register per store).

An **engagement template** names the programme's usual objectives and the indicators that track
them; a **cohort template** the rituals a cohort holds and the rotating roles it uses (seed 002).
A coach opens an engagement or a cohort with ``template=NAME``: the engagement's (or cohort's)
first events then record ``TemplateApplied``, with the template's name, version and content, so
its view and its history show what came from the programme, as such. The objectives themselves
are still stated at the tripartite meeting and validated by the coach: a template proposes them.

A template is programme-wide text, stored in clear: it must hold no personal data (no name, no
situation), only the programme's wording. Declaring a name again records its next version;
engagements opened earlier keep the version they were opened with.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_member, require_text, require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.copying import aggregate_copy
from engagement_tracker.domain.errors import InvalidInput, NotFound
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import CohortRoleName, IndicatorKind, RitualKind

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/programme-templates")
#: A template's name: lowercase letters, digits, "-" and "_", 1 to 40 characters.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
KINDS = ("engagement", "cohort")
MAX_OBJECTIVES = 8
MAX_INDICATORS = 16
MAX_STATEMENT_CHARS = 300


def require_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput("template", f"{str(name)[:60]!r}: a template's name is 1 to 40 lowercase letters, digits, "
                                       "'-' or '_', starting with a letter or digit")
    return name


def engagement_content(objectives: object, indicators: object) -> dict[str, Any]:
    """An engagement template's content, checked: objectives (statements) and indicators, each naming
    its objective by number (``O1`` is the first), its kind, a label and a unit."""
    if isinstance(objectives, str) or not isinstance(objectives, list | tuple) or not 1 <= len(objectives) <= MAX_OBJECTIVES:
        raise InvalidInput("objectives", f"expected a list of 1 to {MAX_OBJECTIVES} statements")
    statements = [require_text(o, "objectives", MAX_STATEMENT_CHARS) for o in objectives]
    if isinstance(indicators, str) or not isinstance(indicators, list | tuple) or len(indicators) > MAX_INDICATORS:
        raise InvalidInput("indicators", f"expected a list of at most {MAX_INDICATORS} indicators")
    checked = []
    for raw in indicators:
        if not isinstance(raw, dict) or set(raw) - {"objective", "kind", "label", "unit"}:
            raise InvalidInput("indicators", "each indicator is {objective: O1.., kind, label, unit}")
        objective = raw.get("objective")
        keys = [f"O{n}" for n in range(1, len(statements) + 1)]
        if objective not in keys:
            raise InvalidInput("indicators", f"{str(objective)[:20]!r}: an indicator names one of {', '.join(keys)}")
        checked.append({"objective": objective,
                        "kind": require_member(IndicatorKind, raw.get("kind"), "kind").value,
                        "label": require_text(raw.get("label"), "label", MAX_STATEMENT_CHARS),
                        "unit": require_text(raw.get("unit"), "unit", 40)})
    uncovered = [f"O{n}" for n in range(1, len(statements) + 1) if f"O{n}" not in {i["objective"] for i in checked}]
    if uncovered:
        raise InvalidInput("indicators", f"objective {', '.join(uncovered)} has no indicator: give each objective one")
    return {"objectives": statements, "indicators": checked}


def cohort_content(rituals: object, roles: object) -> dict[str, Any]:
    """A cohort template's content, checked: the rituals held and the rotating roles used."""
    def members(raw: object, field: str, vocabulary: Any) -> list[str]:
        if isinstance(raw, str) or not isinstance(raw, list | tuple) or not raw:
            raise InvalidInput(field, f"expected a list of: {', '.join(v.value for v in vocabulary)}")
        return list(dict.fromkeys(require_member(vocabulary, r, field).value for r in raw))

    return {"rituals": members(rituals, "rituals", RitualKind), "roles": members(roles, "roles", CohortRoleName)}


class ProgrammeTemplates(Aggregate):
    TOPIC = "etrack:ProgrammeTemplates"
    ID = uuid5(_NAMESPACE, "templates")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return aggregate_copy(self, memo)

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:ProgrammeTemplates.Created"

    class TemplateDeclared(Event):
        """An admin declared a template (or its next version): its kind and content, in clear."""

        TOPIC = "etrack:ProgrammeTemplates.TemplateDeclared"
        actor: Actor
        name: str
        kind: str
        version: int
        content: dict[str, Any]

        def apply(self, register: ProgrammeTemplates) -> None:
            register.templates[self.name] = {"name": self.name, "kind": self.kind, "version": self.version,
                                             "content": self.content, "declared_at": self.timestamp,
                                             "by": str(self.actor.party)}

    def __init__(self) -> None:
        #: name -> kind, version, content, declared_at, by (the latest version)
        self.templates: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, at: datetime) -> ProgrammeTemplates:
        return cls._create(cls.Created, id=cls.ID, timestamp=require_time(at))

    def declare(self, actor: Actor, at: datetime, name: str, kind: str, content: dict[str, Any]) -> int:
        """Record a template (the caller checked the admin grant and the content); returns its version."""
        require_time(at)
        if kind not in KINDS:
            raise InvalidInput("kind", f"{str(kind)[:20]!r}: expected {' or '.join(KINDS)}")
        held = self.templates.get(require_name(name))
        if held is not None and held["kind"] != kind:
            raise InvalidInput("kind", f"template {name} is a {held['kind']} template; declare a {kind} one "
                                       "under another name")
        version = 1 if held is None else held["version"] + 1
        self.trigger_event(self.TemplateDeclared, timestamp=at, actor=actor, name=name, kind=kind, version=version,
                           content=content)
        return version

    def template(self, name: object, kind: str) -> dict[str, Any]:
        """The latest version of a template of ``kind``; NotFound names the ones there are."""
        held = self.templates.get(require_name(name))
        if held is None or held["kind"] != kind:
            raise NotFound(f"{kind} template", f"{name} (declared: {', '.join(self.names(kind)) or 'none'})")
        return held

    def names(self, kind: str) -> list[str]:
        return sorted(n for n, t in self.templates.items() if t["kind"] == kind)


__all__ = ["KINDS", "ProgrammeTemplates", "cohort_content", "engagement_content", "require_name"]
