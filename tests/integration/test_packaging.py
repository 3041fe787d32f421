"""What `pip install engagement-tracker` puts into an application's environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_one_package_named_after_the_distribution(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools builds inside the source tree: build a copy of it
    shutil.copytree(ROOT, source, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".hypothesis", "tests"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("engagement_tracker-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"engagement_tracker"}, f"the wheel installs {sorted(tops)} at the top of site-packages"
    for module in ("domain/application/__init__.py", "domain/application/command_path.py",
                   "projections/audit_trail.py", "adapters/cli/__init__.py",
                   "adapters/cli/__main__.py", "py.typed", "adapters/pages/templates/base.html.j2",
                   "adapters/pages/templates/engagement.html.j2", "adapters/pages/templates/_release.html.j2",
                   "adapters/cli/schemas/signals-summary.schema.json",
                   "adapters/cli/schemas/signals-trends.schema.json", "adapters/cli/schemas/activity.schema.json",
                   "adapters/cli/schemas/signals-summary-dp.schema.json"):
        assert f"engagement_tracker/{module}" in names, f"{module} is missing from the wheel"
    assert not [n for n in names if "/bench/" in n or "/tests/" in n], "bench/ or tests/ shipped in the wheel"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "Typing :: Typed" in metadata


def test_an_application_with_its_own_domain_package_still_imports_ours(tmp_path: Path) -> None:
    app_domain = tmp_path / "domain"
    app_domain.mkdir()
    (app_domain / "__init__.py").write_text("OWNER = 'the embedding application'\n")
    script = (
        "import domain\n"
        "from engagement_tracker import open_tracker, Actor, Role\n"
        "app = open_tracker('memory:')\n"
        "coach = Actor(app.parties.register('person', 'Claire').value, Role.COACH)\n"
        "print(domain.OWNER)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "the embedding application"


def test_etrack_says_its_version() -> None:
    from importlib.metadata import version

    proc = subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", "--version"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"etrack, version {version('engagement-tracker')}"
