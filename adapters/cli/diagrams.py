"""Workflow diagrams: Mermaid text, JSON data, or SVG/PNG rendered by the Mermaid CLI when present."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from engagement_tracker.adapters.files import write_out
from engagement_tracker.domain.errors import MissingDependency
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW

WORKFLOWS = {"engagement": ENGAGEMENT_WORKFLOW, "cohort": COHORT_WORKFLOW}


@click.group()
def workflow() -> None:
    """Inspect the workflow definitions."""


@workflow.command("diagram")
@click.argument("name", type=click.Choice(sorted(WORKFLOWS)), default="engagement")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "json", "svg", "png"]), default="mermaid",
              show_default=True, help="svg and png render through the Mermaid CLI (mmdc on PATH)")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="write it here (png needs it, or a pipe)")
def diagram(name: str, fmt: str, out_path: str | None) -> None:
    """Print a workflow as Mermaid text, as JSON data, or rendered as SVG or PNG (Mermaid CLI).

    States and state-changing steps are drawn as arrows; the steps that keep a state where it
    is are listed in a note beside it."""
    wf = WORKFLOWS[name]
    if fmt in ("svg", "png"):
        data = render_mermaid(wf.to_mermaid(), fmt)
        if out_path:
            write_out(out_path, data)
        elif fmt == "png" and sys.stdout.isatty():
            raise click.UsageError("png is binary: pass --out FILE or redirect stdout")
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    text = wf.to_mermaid() if fmt == "mermaid" else json.dumps(wf.to_dict(), indent=2)
    if out_path:
        write_out(out_path, text + "\n")
    else:
        click.echo(text)


MMDC_TIMEOUT = 120


def render_mermaid(text: str, fmt: str) -> bytes:
    """Mermaid text rendered by the Mermaid CLI (``mmdc``), or MissingDependency naming how to get it."""
    mmdc = shutil.which("mmdc")
    if mmdc is None:
        raise MissingDependency(f"--format {fmt} renders through the Mermaid CLI, and mmdc is not on PATH: "
                                "npm install -g @mermaid-js/mermaid-cli (or print --format mermaid and paste it "
                                "into any Mermaid renderer)")
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "diagram.mmd", Path(work) / f"diagram.{fmt}"
        source.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run(  # noqa: S603 - mmdc found on PATH, arguments are our own temporary files
                [mmdc, "-i", str(source), "-o", str(target), *_browser(Path(work))], capture_output=True, text=True,
                                  timeout=MMDC_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MissingDependency(f"the Mermaid CLI ({mmdc}) could not run: {exc}") from None
        if done.returncode != 0 or not target.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MissingDependency(f"the Mermaid CLI ({mmdc}) failed (exit {done.returncode}): {last}")
        return target.read_bytes()


def _browser(work: Path) -> list[str]:
    """A puppeteer config for mmdc pointing at the machine's chromium (PUPPETEER_EXECUTABLE_PATH, else
    chromium on PATH), so mmdc needs no browser of its own (none is downloaded); none found: mmdc's own."""
    browser = os.environ.get("PUPPETEER_EXECUTABLE_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return []
    config = work / "puppeteer.json"
    config.write_text(json.dumps({"executablePath": browser, "args": ["--no-sandbox", "--disable-gpu"]}), encoding="utf-8")
    return ["-p", str(config)]


COMMANDS: tuple[click.Command, ...] = (workflow,)
