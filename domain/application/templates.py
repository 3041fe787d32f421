"""Programme templates: ``app.templates.declare / list / get`` (admins declare; coaches read).

The template register and its rules are in ``domain/templates.py``. ``app.engagements.open(...,
template=NAME)`` and ``app.cohorts.open(..., template=NAME)`` apply one: the opened aggregate's
second event, in the same transaction as its creation, is ``TemplateApplied`` (name, version,
content), and its view shows it under ``template``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engagement_tracker.domain.access import grant_checked, require_admin, require_template_reader
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import InvalidInput, NotFound
from engagement_tracker.domain.templates import KINDS, ProgrammeTemplates, cohort_content, engagement_content, require_name
from engagement_tracker.domain.values import Actor


class TemplateService:
    """``app.templates``: the programme's named templates for engagements and cohorts."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    @grant_checked
    def declare(self, name: str, kind: str, admin: Actor, *, objectives: object = None, indicators: object = None,
                rituals: object = None, roles: object = None, command_id: object = None) -> CommandResult[int]:
        """An admin declares a template (or its next version); returns its version. An engagement template
        takes ``objectives`` and ``indicators``, a cohort template ``rituals`` and ``roles``."""
        require_admin(admin, "declare a template", self.path.held_grants)
        require_name(name)
        if kind == "engagement":
            if rituals is not None or roles is not None:
                raise InvalidInput("kind", "an engagement template takes objectives and indicators, not rituals or roles")
            content = engagement_content(objectives, [] if indicators is None else indicators)
        elif kind == "cohort":
            if objectives is not None or indicators is not None:
                raise InvalidInput("kind", "a cohort template takes rituals and roles, not objectives or indicators")
            content = cohort_content(rituals, roles)
        else:
            raise InvalidInput("kind", f"{str(kind)[:20]!r}: expected {' or '.join(KINDS)}")

        def decide(register: ProgrammeTemplates, at: datetime) -> int:
            return register.declare(admin, at, name, kind, content)

        return self.path.update(ProgrammeTemplates, ProgrammeTemplates.ID, "template register", decide,
                                command_id=command_id, start=ProgrammeTemplates.start)

    def list(self, viewer: Actor, kind: str | None = None) -> list[dict[str, Any]]:
        """Every template's latest version (admins and coaches): name, kind, version, content, when, by whom."""
        require_template_reader(viewer, self.path.held_grants)
        if kind is not None and kind not in KINDS:
            raise InvalidInput("kind", f"{str(kind)[:20]!r}: expected {' or '.join(KINDS)}")
        register = self._register()
        rows = [] if register is None else [dict(t) for t in register.templates.values()]
        return sorted(({**t, "declared_at": t["declared_at"].isoformat()} for t in rows
                       if kind is None or t["kind"] == kind), key=lambda t: t["name"])

    def get(self, name: object, kind: str) -> dict[str, Any]:
        """The latest version of a template, for opening with it; NotFound when there is none."""
        return latest_template(self.path, name, kind)

    def _register(self) -> ProgrammeTemplates | None:
        return _register(self.path)


def _register(path: CommandPath) -> ProgrammeTemplates | None:
    try:
        return path.load(ProgrammeTemplates, ProgrammeTemplates.ID, "template register")
    except NotFound:
        return None


def latest_template(path: CommandPath, name: object, kind: str) -> dict[str, Any]:
    """The latest version of the ``kind`` template ``name`` (what ``open(..., template=NAME)`` applies);
    NotFound, naming the templates there are, when there is none."""
    register = _register(path)
    if register is None:
        raise NotFound(f"{kind} template", f"{require_name(name)} (no template is declared yet: an admin declares "
                                           "one with etrack templates declare)")
    return register.template(name, kind)


__all__ = ["TemplateService", "latest_template"]
