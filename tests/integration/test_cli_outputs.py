"""The analysts' outputs as people load them (issue #14): every format of every output, from the
installed command, read back by pandas, polars and DuckDB without reshaping, with the same
columns in each; every JSON row valid against the schema shipped in the package."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pandas as pd
import polars as pl
import pytest

from engagement_tracker.adapters.cli.rows import OUTPUTS, schema
from engagement_tracker.adapters.demo import access_actor

ROOT = Path(__file__).resolve().parents[2]


def etrack(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "100"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("outputs")
    assert etrack(where, "demo").returncode == 0
    analyst, admin = str(access_actor("analyst")), str(access_actor("admin"))
    granted = etrack(where, "privacy-budget", "grant", analyst.split(":", 1)[1], "5", "--as", admin)
    assert granted.returncode == 0, granted.stderr
    return where


ANALYST = str(access_actor("analyst"))
COMMANDS: dict[str, list[str]] = {
    "signals-summary": ["signals", "summary", "--as", ANALYST],
    "signals-summary-dp": ["signals", "summary", "--as", ANALYST, "--privacy", "dp", "--epsilon", "0.5"],
    "signals-trends": ["signals", "trends", "--as", ANALYST, "--period", "year"],
    # over Q1: the whole year's activity is closed once the release calendar recorded Q3 (the demo's tick)
    "activity": ["activity", "--as", ANALYST, "--since", "2026-01", "--until", "2026-03"],
    "testimonials-ratings": ["testimonials", "ratings", "--as", ANALYST],
}


@functools.cache
def output(demo: Path, name: str, fmt: str) -> bytes:
    proc = etrack(demo, *COMMANDS[name], "--format", fmt)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    return proc.stdout


def test_every_output_has_a_schema_in_the_package() -> None:
    assert set(COMMANDS) == set(OUTPUTS)
    for name in OUTPUTS:
        jsonschema.Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("name", OUTPUTS)
def test_json_and_jsonl_rows_follow_the_schema_and_agree(demo: Path, name: str) -> None:
    rows: list[dict[str, Any]] = json.loads(output(demo, name, "json"))
    lines = [json.loads(line) for line in output(demo, name, "jsonl").decode().splitlines()]
    assert rows == lines
    if name != "signals-summary-dp":
        assert rows, name  # the demo releases something for every exact output
    validator = jsonschema.Draft202012Validator(schema(name))
    for row in rows:
        validator.validate(row)
    assert all(isinstance(v, (int, type(None))) for r in rows for k, v in r.items() if k == "value")


@pytest.mark.parametrize("name", OUTPUTS)
def test_every_format_loads_into_pandas_polars_and_duckdb_with_the_same_columns(demo: Path, name: str,
                                                                                tmp_path: Path) -> None:
    rows = json.loads(output(demo, name, "json"))
    csv_text = output(demo, name, "csv")
    columns = csv_text.decode().splitlines()[0].split(",")
    frames = {
        "csv-pandas": pd.read_csv(io.BytesIO(csv_text)),
        "json-pandas": pd.read_json(io.BytesIO(output(demo, name, "json")), orient="records"),
        "jsonl-pandas": pd.read_json(io.BytesIO(output(demo, name, "jsonl")), lines=True),
        "parquet-pandas": pd.read_parquet(io.BytesIO(output(demo, name, "parquet"))),
    }
    for label, frame in frames.items():
        assert list(frame.columns) == columns or (frame.empty and label.startswith("json")), label
        assert len(frame) == len(rows), label
    polars = {
        "csv": pl.read_csv(io.BytesIO(csv_text)),
        "json": pl.read_json(io.BytesIO(output(demo, name, "json"))) if rows else pl.DataFrame(),
        "jsonl": pl.read_ndjson(io.BytesIO(output(demo, name, "jsonl"))) if rows else pl.DataFrame(),
        "parquet": pl.read_parquet(io.BytesIO(output(demo, name, "parquet"))),
    }
    for label, df in polars.items():
        assert df.height == len(rows), label
        if rows or label in ("csv", "parquet"):
            assert df.columns == columns, label
    files = {fmt: tmp_path / f"out.{fmt}" for fmt in ("csv", "json", "parquet")}
    for fmt, path in files.items():
        path.write_bytes(output(demo, name, fmt))
    con = duckdb.connect()
    for fmt, path in files.items():
        if fmt == "json" and not rows:
            continue
        reader = {"csv": "read_csv_auto", "json": "read_json_auto", "parquet": "read_parquet"}[fmt]
        got = con.execute(f"SELECT count(*) FROM {reader}('{path}')").fetchone()
        assert got == (len(rows),), (fmt, got)
    con.close()


@pytest.mark.parametrize("name", ["signals-summary", "activity"])
def test_the_total_is_a_row_marked_total_in_every_format(demo: Path, name: str) -> None:
    frame = pd.read_csv(io.BytesIO(output(demo, name, "csv")))
    assert list(frame["scope"]).count("total") == 1 and frame["scope"].iloc[-1] == "total"
    cells = frame[frame["scope"] == "cell"]
    total = frame[frame["scope"] == "total"]["value"].iloc[0]
    assert cells["value"].sum() <= total  # released cells never add up to more than the total
    assert {"level", "k", "status", "unit_depth"} <= set(frame.columns)
    pq = pl.read_parquet(io.BytesIO(output(demo, name, "parquet")))
    assert pq.filter(pl.col("scope") == "total").height == 1
    assert "(all)" not in output(demo, name, "csv").decode()


def test_trends_are_rows_one_per_theme_and_period(demo: Path) -> None:
    rows = json.loads(output(demo, "signals-trends", "json"))
    assert rows and all(isinstance(r["period"], str) and " " not in r["period"] for r in rows)
    assert len({(r["theme"], r["period"]) for r in rows}) == len(rows)


def test_an_empty_output_still_has_its_header(demo: Path) -> None:
    proc = etrack(demo, *COMMANDS["signals-trends"], "--since", "2031-01", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "theme,kind,period,value,direction,becoming_strong,released_as\n"
    assert pd.read_csv(io.BytesIO(proc.stdout)).empty
    assert pl.read_csv(io.BytesIO(proc.stdout)).height == 0
    empty = etrack(demo, *COMMANDS["signals-trends"], "--since", "2031-01", "--format", "json")
    assert json.loads(empty.stdout) == []


def test_parquet_to_a_terminal_is_refused_and_to_a_file_is_written(demo: Path, tmp_path: Path) -> None:
    target = tmp_path / "summary.parquet"
    proc = etrack(demo, *COMMANDS["signals-summary"], "--format", "parquet", "--out", str(target))
    assert proc.returncode == 0 and proc.stdout == b""
    assert pl.read_parquet(target).schema["value"] == pl.Int64


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_a_dp_release_states_mechanism_epsilon_delta_and_threshold_in_every_format(demo: Path, fmt: str) -> None:
    """In the rows when there are any; on stderr when there is none (the demo's DP summary at epsilon 0.5
    shows no cell: the policy is still stated), and always on stderr in the table."""
    proc = etrack(demo, *COMMANDS["signals-summary-dp"], "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    stderr = proc.stderr.decode()
    rows = json.loads(output(demo, "signals-summary-dp", "json"))  # the same recorded answer
    stated = all(word in " ".join(stderr.split())
                 for word in ("gaussian_threshold", "epsilon 0.5", "delta 1e-06", "zCDP rho", "shown only from"))
    if fmt == "table" or not rows:
        assert stated, stderr
    if fmt in ("json", "jsonl") and rows:
        got = [json.loads(line) for line in proc.stdout.decode().splitlines()] if fmt == "jsonl" else json.loads(
            proc.stdout)
        assert all(r["mechanism"] == "gaussian_threshold" and r["epsilon"] == 0.5 and r["delta"] == 1e-6
                   and r["rho"] > 0 and isinstance(r["threshold"], int) for r in got)
    if fmt == "csv":
        assert proc.stdout.decode().splitlines()[0].endswith("privacy,mechanism,rho,epsilon,delta,threshold")
