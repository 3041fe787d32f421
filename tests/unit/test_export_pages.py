"""The trail's export reads a page at a time and writes the same lines as one read of everything."""

from __future__ import annotations

import io

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Role
from engagement_tracker.domain.application import audit
from engagement_tracker.projections.audit_chain import export_lines
from engagement_tracker.projections.audit_log import entry_leaf_hash
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement


def test_a_paged_export_equals_the_whole_trail(monkeypatch: pytest.MonkeyPatch) -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "accompaniment.in_progress")
    auditor = granted(app, Role.AUDITOR, "Aude Auditor")
    service = bootstrap.audit_service(app)
    whole = "".join(line + "\n" for line in export_lines(service.entries(auditor), entry_leaf_hash))
    monkeypatch.setattr(audit, "EXPORT_PAGE", 3)
    pages: list[int] = []
    out = io.StringIO()
    n = service.export(auditor, out, pages.append)
    assert out.getvalue() == whole and n == whole.count("\n") > 7
    assert sum(pages) == n and max(pages) == 3 and len(pages) == -(-n // 3)
