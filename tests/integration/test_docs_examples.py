"""Every Python and shell block of the README and of the docs runs as written.

Each page runs in a fresh temporary directory (so on a fresh store), its blocks in order, as a
reader would type them into one terminal and one Python session: Python blocks share one
namespace, shell blocks one environment (a variable a shell block sets is seen by the later
blocks, shell or Python, through ``os.environ``). A block fails its page when it raises or
exits non-zero. Every other fence says what it is (```text for output and illustrations,
```toml, ```sql): a fence without a language fails, so no example escapes by being unlabelled.
The one block not run here is the install block (the README's, and the site's home page):
``.ci/run`` runs those commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from engagement_tracker import EngagementTracker
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _drop_schema, postgres_unreachable

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN = {"python": "python", "bash": "bash"}
NOT_RUN = {"text", "toml", "sql", "json"}
INSTALL = [
    "python -m pip install . && etrack demo",
    "python -m pip install '.[test]' && python -m pytest",
]
DOCS_SCHEMA = "etrack_docs"  # the operator's guide's PostgreSQL schema (dropped before and after)
DOCS_SCHEMAS = (DOCS_SCHEMA, "etrack_docs_pooled")  # ... and the one it reaches through pgbouncer


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\S*)", lines[i])
        if fence:
            indent, lang = fence.groups()
            start, body = i, []
            i += 1
            while not lines[i].strip().startswith("```"):
                body.append(lines[i][len(indent):])
                i += 1
            found.append(Block(page, start + 1, lang, "\n".join(body) + "\n"))
        i += 1
    return found


def test_every_fence_says_what_it_is() -> None:
    unlabelled = [b.where() for page in PAGES for b in blocks(page) if b.lang not in {*RUN, *NOT_RUN}]
    assert not unlabelled, f"label these fences (python, bash, or text for what does not run): {unlabelled}"


def test_the_readme_is_the_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    first = blocks(ROOT / "README.md")[0]
    assert first.line == 3 and first.lang == "bash" and first.code.splitlines() == INSTALL
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pip install --quiet '.[test]'" in ci and "\npython -m pytest\n" in ci and "etrack demo" in ci
    assert "mkdocs build --strict" in ci
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / page).is_file(), page


def site_home(readme: str) -> str:
    """The site's home page: the README, its links made relative to docs/."""
    return (readme.replace("](docs/", "](")
            .replace("(or read the Markdown under [`docs/`](index.md))", "(the pages' Markdown lives under `docs/`)"))


def test_the_site_home_is_the_readme() -> None:
    expected = site_home((ROOT / "README.md").read_text())
    assert (ROOT / "docs" / "index.md").read_text() == expected, "regenerate docs/index.md from README.md (site_home)"


def runnable(page: Path) -> list[Block]:
    """The blocks to run, in order: all Python and shell blocks but the install block."""
    return [b for b in blocks(page) if b.lang in RUN and b.code.splitlines() != INSTALL]


def clean_environment(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETRACK_") or k == "ETRACK_TEST_POSTGRES_URL"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["ETRACK_TEST_POSTGRES_URL"] = POSTGRES_URL
    env["COLUMNS"] = "200"
    return env


def run_shell(block: Block, cwd: Path, env: dict[str, str], state: Path) -> dict[str, str]:
    script = f"set -euo pipefail\nset -a\n{block.code}\nenv -0 > {state}\n"
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{block.where()} exited {done.returncode}\n{block.code}\n{output}"
    assert "Traceback" not in done.stderr, f"{block.where()}\n{done.stderr}"
    pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k not in {"PWD", "OLDPWD", "SHLVL", "_"}}


def run_python(block: Block, scope: dict[str, object], env: dict[str, str]) -> None:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        exec(compile(block.code, block.where(), "exec"), scope)  # noqa: S102 - our own documentation
    except Exception as exc:
        raise AssertionError(f"{block.where()} raised {exc!r}\n{block.code}") from exc
    finally:
        os.environ.clear()
        os.environ.update(saved)


def uses_postgres(page: Path) -> bool:
    return any("ETRACK_TEST_POSTGRES_URL" in b.code for b in runnable(page))


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_of_the_page_runs_as_written(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if uses_postgres(page):
        reason = postgres_unreachable()
        if reason:
            if REQUIRE_POSTGRES:
                pytest.fail(f"PostgreSQL is required here (ETRACK_REQUIRE_POSTGRES=1): {reason}")
            pytest.skip(reason)
        for schema in DOCS_SCHEMAS:
            _drop_schema(schema)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = clean_environment(Path(sys.executable).parent)
    scope: dict[str, object] = {"__name__": "__docs__"}
    try:
        for block in runnable(page):
            if block.lang == "bash":
                env = run_shell(block, work, env, tmp_path / "shell-state")
            else:
                run_python(block, scope, env)
    finally:
        for value in scope.values():
            if isinstance(value, EngagementTracker):
                value.close()
        if uses_postgres(page):
            for schema in DOCS_SCHEMAS:
                _drop_schema(schema)
