"""The README's Python tours run as written (on a temporary SQLite file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def python_block(after_heading: str) -> str:
    match = re.search(re.escape(after_heading) + r".*?```python\n(.*?)```", README, re.S)
    assert match, f"no python block after {after_heading!r}"
    return match.group(1)


def test_the_embedding_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {"document_bytes": b"the synthesis document"}
    exec(python_block("## Embedding the domain core (Python API)"), scope)  # noqa: S102 - our own README
    app = scope["app"]
    assert app.engagements.get(scope["eid"]).state == "closed"  # type: ignore[attr-defined]
    assert (tmp_path / "coaching.sqlite").exists() and (tmp_path / "coaching.sqlite-vault").exists()
    app.close()  # type: ignore[attr-defined]


def test_the_readme_verifier_checks_a_real_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engagement_tracker.adapters import bootstrap
    from engagement_tracker.domain import Role
    from tests.support import Cast, FakeClock, drive, grant, new_tracker, open_engagement

    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "closed")
    service = bootstrap.audit_service(app)
    with open(tmp_path / "trail.jsonl", "w") as fh:
        service.export(grant(app, cast.sponsor.party, Role.AUDITOR), fh)
    head = service.trail.view.head()
    app.close()
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(python_block("so a verifier is a few lines:"), scope)  # noqa: S102 - our own README
    assert head is not None and scope["prev"] == head.entry_hash
