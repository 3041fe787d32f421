"""The application is composed services on one command path; the flat methods of 0.1 still work,
with a DeprecationWarning, for one minor version (issue #22, item 2)."""

from __future__ import annotations

import ast
import inspect
from datetime import date
from pathlib import Path

import pytest

from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.tracker import DEPRECATED_FLAT, EngagementTracker
from tests.support import Cast, FakeClock, admin, new_tracker, open_engagement

SERVICES = ("engagements", "cohorts", "parties", "access", "budgets")
APPLICATION = Path(__file__).resolve().parents[2] / "domain" / "application"


@pytest.fixture
def app() -> EngagementTracker:
    tracker = new_tracker("memory:", FakeClock())
    yield tracker
    tracker.close()


def test_each_service_is_given_the_one_command_path(app: EngagementTracker) -> None:
    for name in SERVICES:
        service = getattr(app, name)
        assert service.path is app, name
        assert isinstance(service, object) and not isinstance(service, CommandPath), name
    assert callable(app.update) and callable(app.load)


def test_every_flat_name_leads_to_a_method_of_its_service(app: EngagementTracker) -> None:
    assert len(DEPRECATED_FLAT) >= 45
    for flat, (service, method) in DEPRECATED_FLAT.items():
        assert service in SERVICES, flat
        assert callable(getattr(getattr(app, service), method)), f"{flat} -> {service}.{method}"
        assert flat not in vars(EngagementTracker), f"{flat} is still a method of the tracker"


def test_a_flat_call_still_works_and_warns(app: EngagementTracker) -> None:
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    with pytest.warns(DeprecationWarning, match=r"app\.hold_first_meeting\(\.\.\.\) is deprecated: "
                                                r"use app\.engagements\.hold_first_meeting"):
        app.hold_first_meeting(eid, cast.coach, date(2026, 3, 2))  # type: ignore[attr-defined]  # the old form
    assert app.engagements.get(eid).state == "framing.first_meeting"
    with pytest.warns(DeprecationWarning, match=r"use app\.parties\.register"):
        pid = app.register_party("person", "Old Style")  # type: ignore[attr-defined]
    assert app.parties.name(pid) == "Old Style"
    with pytest.warns(DeprecationWarning, match=r"use app\.parties\.list\(viewer\)"):
        rows = app.parties(admin(app))  # type: ignore[operator]  # 0.1's app.parties(viewer)
    assert str(pid) in {row["id"] for row in rows}


def test_an_unknown_attribute_is_still_an_attribute_error(app: EngagementTracker) -> None:
    with pytest.raises(AttributeError, match="hold_first_meetin"):
        app.hold_first_meetin  # type: ignore[attr-defined]  # noqa: B018 - the access is the test
    assert not hasattr(app, "open")  # open is app.engagements.open, never a flat name


def test_a_refusal_through_a_service_is_the_same_typed_error(app: EngagementTracker) -> None:
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    from engagement_tracker.domain.errors import NotPermitted

    with pytest.raises(NotPermitted):
        app.engagements.hold_first_meeting(eid, Actor(cast.sponsor.party, Role.SPONSOR), date(2026, 3, 2))
    assert app.engagements.get(eid).version == 1  # nothing recorded


def _classes() -> list[tuple[str, ast.ClassDef]]:
    found = []
    for path in sorted(APPLICATION.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found.append((f"{path.name}:{node.name}", node))
    return found


def test_no_service_reaches_into_another_s_private_methods() -> None:
    """A service uses the command path's public API (``self.path.update``), never ``self.path._x``."""
    offenders = []
    for path in sorted(APPLICATION.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Attribute) and node.value.attr in ("path", "app", *SERVICES)):
                offenders.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []


def test_services_are_not_a_mixin_stack() -> None:
    """Each service class has at most one base of its own (no stack of mixins)."""
    for name, node in _classes():
        own_bases = [ast.unparse(b) for b in node.bases if ast.unparse(b) not in ("Protocol", "Exception")]
        assert len(own_bases) <= 1, f"{name} mixes {own_bases}"


def test_the_tracker_is_no_longer_a_mixin_stack() -> None:
    assert EngagementTracker.__bases__ == (CommandPath,)
    assert inspect.getsourcelines(EngagementTracker)[0]  # it has its own source, composed in __init__
