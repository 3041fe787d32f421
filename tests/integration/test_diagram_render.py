"""Both workflow diagrams rendered by the real Mermaid CLI: every state and every state-changing step is drawn.

Runs when ``mmdc`` is on PATH (or ``ETRACK_TEST_MMDC`` names it): ``npm install -g
@mermaid-js/mermaid-cli`` with ``PUPPETEER_SKIP_DOWNLOAD=1``; etrack points mmdc at the machine's
chromium. Without it the test skips, saying so (the stand-in test in test_cli_usability.py
still checks the plumbing).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW

ROOT = Path(__file__).resolve().parents[2]
MMDC = os.environ.get("ETRACK_TEST_MMDC") or shutil.which("mmdc")


@pytest.mark.skipif(MMDC is None, reason="the Mermaid CLI (mmdc) is not installed: npm install -g @mermaid-js/mermaid-cli")
@pytest.mark.parametrize("workflow", [ENGAGEMENT_WORKFLOW, COHORT_WORKFLOW], ids=lambda w: w.name)
def test_the_rendered_diagram_draws_every_state_and_step(workflow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert MMDC is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(MMDC).parent}:{os.environ.get('PATH', '')}"}
    out = tmp_path / f"{workflow.name}.svg"
    done = subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", "workflow", "diagram",
                           workflow.name, "--format", "svg", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "Traceback" not in done.stderr
    drawn = set(re.findall(r">([^<>]+)<", svg))
    spec = workflow.to_dict()
    for state in [*spec["states"], *spec["final"]]:
        leaf = state.split(".")[-1]
        assert any(leaf in text for text in drawn), f"state {state} is not drawn"
    for step in {s["step"] for s in spec["steps"] if not s["internal"]}:
        assert any(step in text for text in drawn), f"step {step} is not drawn"
