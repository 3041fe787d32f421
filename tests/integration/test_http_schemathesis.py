"""Schemathesis over every operation of /openapi.json, against the live uvicorn, with a valid token of
each role: no 500 ever, and every response conforms to what the document declares (status code,
content type, headers, body schema). Bounded: a few generated cases per operation and role (more
under HYPOTHESIS_PROFILE=ci), so it runs in a couple of minutes."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_support import Live, live_fixture  # noqa: F401  (the live fixture)

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

ROLES = ("admin", "auditor", "analyst", "coach", "coachee", "sponsor", "member")
#: Cases per operation and role (all roles share one draw: the role is drawn too).
EXAMPLES = 12 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 6


def test_every_operation_with_every_role_answers_as_declared(live: Live) -> None:
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    doc = live.client().get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
              response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in doc["paths"].values())
    called: dict[str, set[int]] = {}

    def exercise(op: Any) -> None:
        label = f"{op.method.upper()} {op.path}"

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(), role=st.sampled_from(ROLES))
        def run(case: Any, role: str) -> None:
            headers = {"Authorization": f"Bearer {live.tokens[role]}"}
            response = case.call(base_url=live.url, headers=headers, timeout=60)
            case.validate_response(response, checks=checks)
            called.setdefault(label, set()).add(response.status_code)

        run()

    for op in operations:
        exercise(op)
    assert len(called) == len(operations)
    assert not any(500 in statuses for statuses in called.values())
    # it reached the domain, not only the validation: successes and refusals both occurred
    every = set().union(*called.values())
    assert {200, 403, 422} <= every
