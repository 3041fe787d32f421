"""Progress bars on stderr for long work: a count, a rate and the time left (rich).

Off when stderr is not a terminal (a script, a pipe, CI) or with ``-q/--quiet``: the work then
reports nothing on the way, only its result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

import click

from engagement_tracker.adapters.cli.output import err

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

Advance = Callable[[int], None]


@cache
def _rate_column() -> type[ProgressColumn]:
    """Items per second (rich.progress is imported when a bar is drawn: a piped command never loads it)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")

    return RateColumn


def _bar(unit: str) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    _rate_column()(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=err, transient=False)


def shown(ctx: click.Context | None) -> bool:
    """Whether progress bars are drawn: stderr is a terminal and --quiet was not given."""
    quiet = bool(ctx is not None and isinstance(ctx.obj, dict) and ctx.obj.get("quiet"))
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress(ctx: click.Context | None, label: str, total: int | None, unit: str = "records") -> Iterator[Advance]:
    """Yield ``advance(n)``: a bar of ``total`` items on stderr, or a no-op when bars are off."""
    if not shown(ctx):
        yield lambda _n: None
        return
    bar = _bar(unit)
    with bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        advance.bar, advance.task = bar, task  # type: ignore[attr-defined]
        yield advance


@contextmanager
def progress_of(ctx: click.Context | None, label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``, for work that learns its total as it starts."""
    with progress(ctx, label, None, unit) as advance:
        if getattr(advance, "bar", None) is None:
            yield lambda _done, _total: None
            return
        bar, task = advance.bar, advance.task  # type: ignore[attr-defined]
        yield lambda done, total: bar.update(task, completed=done, total=total)
