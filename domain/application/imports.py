"""Imports: a programme's parties and engagements from a CSV file, every row checked first.

``app.imports.run(kind, data, admin)`` reads the file's bytes (``kind``: "parties" or
"engagements"), checks every row before anything is written and raises :class:`ImportRefused`
listing every bad row (line, column, reason) when one is bad: nothing is written then. A clean
file is imported one command per row, each with a command id derived from the file's bytes and
the row's line (``import.<kind>:<digest>:<line>``), so running the same file again adds nothing
(each row answers "already recorded"), and a run cut short is finished by running it again.

The layouts (:data:`LAYOUTS`) are public: ``template(kind)`` is the header line a programme
fills in. A cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, a tab or
a carriage return first) is refused, so no imported name can later run when exported back to a
spreadsheet; a phone number (``+33 6 12 34 56 78``) is a contact, not a formula.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import grant_checked, require_admin
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_label, require_member, require_text
from engagement_tracker.domain.coach_load import CoachLoad
from engagement_tracker.domain.errors import EtrackError, ImportRefused, InvalidInput, NotFound
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import PartyKind, Role, SponsorFunction

#: The largest file read (bytes) and the most rows imported at once: a bigger programme is split.
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
#: The longest cell read (characters); the columns' own limits are stricter.
MAX_CELL_CHARS = 1_000


@attrs.frozen
class Column:
    """One column of an import layout: its name, whether a row must fill it, what it holds."""

    name: str
    required: bool
    holds: str


#: The documented layouts: the header line names these columns (any order, case ignored).
LAYOUTS: dict[str, tuple[Column, ...]] = {
    "parties": (
        Column("kind", True, "person or team"),
        Column("name", True, f"the person's or team's name (at most {MAX_NAME_CHARS} characters; sealed)"),
        Column("contact", False, f"an e-mail address or phone number (at most {MAX_NAME_CHARS} characters; sealed)"),
    ),
    "engagements": (
        Column("coach", True, "the coach's party id (a person holding the coach grant)"),
        Column("coachee", True, "the coachee's party id (a person or a team)"),
        Column("sponsor", True, "the sponsor's party id (a person)"),
        Column("sponsor_function", True, ", ".join(f.value for f in SponsorFunction)),
        Column("org_unit", True, "the coachee's organisational unit, e.g. Operations/Lyon (a label, no name)"),
        Column("first_meeting", False, "the day the first meeting was held (YYYY-MM-DD), if it was"),
    ),
}

#: What a spreadsheet runs as a formula when a cell starts with it (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A phone number may start with + (or -): digits, spaces and . - ( ) / only.
PHONE = re.compile(r"^\+?[0-9 .()/-]{4,40}$")

Problem = tuple[int, str, str]


def template(kind: str) -> str:
    """The header line of ``kind``'s layout (a CSV file with no rows yet)."""
    return ",".join(c.name for c in _layout(kind)) + "\n"


def _layout(kind: object) -> tuple[Column, ...]:
    if not isinstance(kind, str) or kind not in LAYOUTS:
        raise InvalidInput("kind", f"{kind!r}: expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[kind]


def looks_like_formula(cell: str) -> bool:
    """True for a cell a spreadsheet would run (``=cmd|' /C calc'!A0``), a phone number excepted."""
    return cell.startswith(FORMULA_START) and not PHONE.match(cell)


@attrs.frozen
class Row:
    """A checked row: its line in the file and its cells by column (stripped; absent ones empty)."""

    line: int
    cells: dict[str, str]


def read_rows(kind: str, data: bytes) -> tuple[list[Row], list[Problem]]:
    """The rows of an import file and every problem of its form (encoding, header, cell counts,
    formulas, oversized cells); the values themselves are checked by the importer."""
    layout = _layout(kind)
    if not isinstance(data, bytes | bytearray):
        raise InvalidInput("data", f"expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_IMPORT_BYTES:
        return [], [(0, "", f"{len(data):,} bytes; the limit is {MAX_IMPORT_BYTES:,} (split the file)")]
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as spreadsheets write
        data = data[3:]
    if not data.strip():
        return [], [(0, "", "the file is empty: expected a header line (" + template(kind).strip() + ") and rows")]
    problems: list[Problem] = []
    bad_lines = _undecodable_lines(data)
    problems.extend((line, "", "not UTF-8 text (save the file as CSV UTF-8)") for line in sorted(bad_lines))
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    rows: list[Row] = []
    header: list[str] | None = None
    names = [c.name for c in layout]
    last_line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, "", f"not a CSV row ({exc})"))
            last_line = reader.line_num
            continue
        first, last_line = last_line + 1, reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue  # a blank line
        if any(line in bad_lines for line in range(first, last_line + 1)):
            continue  # reported above
        if header is None:
            header = [c.strip().lower() for c in cells]
            header_problems = list(_header_problems(kind, header, names, first))
            if header_problems:  # the rows cannot be read without their columns
                return [], [*problems, *header_problems]
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            return [], [*problems, (0, "", f"more than {MAX_IMPORT_ROWS:,} rows (split the file)")]
        if len(cells) != len(header):
            problems.append((first, "", f"{len(cells)} cells; the header names {len(header)}"))
            continue
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        bad = False
        for name in header:
            raw = row[name]
            if len(raw) > MAX_CELL_CHARS:
                problems.append((first, name, f"{len(raw):,} characters; the limit is {MAX_CELL_CHARS:,}"))
                bad = True
            elif looks_like_formula(raw):
                problems.append((first, name, f"{raw[:20]!r} starts like a spreadsheet formula (= + - @): refused"))
                bad = True
        if not bad:
            rows.append(Row(first, {name: row.get(name, "") for name in names}))
    if header is None:
        problems.append((0, "", "no header line: expected " + template(kind).strip()))
    elif not rows and not problems:
        problems.append((0, "", "no rows to import after the header line"))
    return rows, problems


def _undecodable_lines(data: bytes) -> set[int]:
    """The lines (1-based) holding bytes that are not UTF-8."""
    lines: set[int] = set()
    start = 0
    while True:
        try:
            data[start:].decode("utf-8")
            return lines
        except UnicodeDecodeError as exc:
            at = start + exc.start
            lines.add(data.count(b"\n", 0, at) + 1)
            start = start + exc.end


def _header_problems(kind: str, header: list[str], names: list[str], line: int) -> Iterator[Problem]:
    for name, n in Counter(header).items():
        if n > 1:
            yield line, name, "named twice in the header"
    for name in header:
        if name not in names:
            yield line, name, f"not a column of the {kind} layout ({', '.join(names)})"
    for column in _layout(kind):
        if column.required and column.name not in header:
            yield line, column.name, "missing from the header: a required column"


def file_digest(data: bytes) -> str:
    """What names one import file in its rows' command ids: its bytes' SHA-256 (40 hex digits)."""
    return hashlib.sha256(bytes(data)).hexdigest()[:40]


def import_command_id(kind: str, digest: str, line: int) -> str:
    """The command id of one row: the file's digest and the row's line (the same file adds nothing)."""
    return f"import.{kind}:{digest}:{line}"


@attrs.frozen
class Planned:
    """A checked row and what importing it records."""

    line: int
    command_id: str
    values: dict[str, Any]


class ImportService:
    """``app.imports.check / run / template``: parties and engagements from a CSV file (admins)."""

    def __init__(self, path: CommandPath, engagements: EngagementService) -> None:
        self.path = path
        self.engagements = engagements

    template = staticmethod(template)
    layouts = LAYOUTS

    def check(self, kind: str, data: bytes, actor: Actor) -> list[Planned]:
        """Every row checked, nothing written: the plan, or ImportRefused listing every bad row."""
        require_admin(actor, f"import {kind}", self.path.held_grants)
        rows, problems = read_rows(kind, data)
        plan: list[Planned] = []
        checker = self._check_party if kind == "parties" else self._engagement_checker()
        digest = file_digest(data)
        for row in rows:
            values, bad = checker(row)
            problems.extend(bad)
            if not bad:
                plan.append(Planned(row.line, import_command_id(kind, digest, row.line), values))
        problems.extend(self._duplicates(kind, plan))
        if problems:
            raise ImportRefused(kind, sorted(problems))
        return plan

    @grant_checked
    def run(
        self, kind: str, data: bytes, actor: Actor, on_progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Check every row, then import a clean file one command per row; per row: line, id, status.

        Each row's command commits only while the admin (and, for an engagement, its coach) still
        holds the grant: a revocation meanwhile refuses the rest (NotPermitted); running the file
        again once granted finishes it, adding nothing twice."""
        plan = self.check(kind, data, actor)
        done: list[dict[str, Any]] = []
        for i, planned in enumerate(plan, 1):
            if kind == "parties":
                result = self._import_party(planned, actor)
            else:
                result = self._import_engagement(planned)
            done.append({"line": planned.line, "id": str(result[0]), "status": result[1]})
            if on_progress is not None:
                on_progress(i, len(plan))
        return done

    # --- parties ---------------------------------------------------------------------------------

    def _check_party(self, row: Row) -> tuple[dict[str, Any], list[Problem]]:
        values: dict[str, Any] = {}
        bad: list[Problem] = []
        checks: tuple[tuple[str, Callable[[str], Any]], ...] = (
            ("kind", lambda v: require_member(PartyKind, v.lower(), "kind")),
            ("name", lambda v: require_text(v, "name", MAX_NAME_CHARS)),
            ("contact", lambda v: None if not v else require_text(v, "contact", MAX_NAME_CHARS)),
        )
        for column, check in checks:
            try:
                values[column] = check(row.cells[column])
            except InvalidInput as exc:
                bad.append((row.line, column, exc.problem))
        return values, bad

    def _import_party(self, planned: Planned, actor: Actor) -> tuple[UUID, str]:
        kind, name, contact = planned.values["kind"], planned.values["name"], planned.values["contact"]

        def make(pid: UUID, at: datetime) -> list[Aggregate]:
            self.path.sealer.create_subject(str(pid))  # a key alone holds no personal data
            seal = self.path.sealer.seal
            return [Party.register(pid, kind, seal(str(pid), name), None if contact is None else seal(str(pid), contact),
                                   at, actor=actor)]

        result = self.path.create("party", make, None, planned.command_id)
        return result.value, result.status

    # --- engagements -----------------------------------------------------------------------------

    def _engagement_checker(self) -> Callable[[Row], tuple[dict[str, Any], list[Problem]]]:
        """A row checker that remembers the parties it read and counts each coach's team engagements."""
        parties: dict[UUID, Party | None] = {}
        grants = self.path.held_grants()
        teams: Counter[UUID] = Counter()
        today = self.path.now().date()

        def party(pid: UUID) -> Party | None:
            if pid not in parties:
                try:
                    parties[pid] = self.path.party(pid)
                except NotFound:
                    parties[pid] = None
            return parties[pid]

        def check(row: Row) -> tuple[dict[str, Any], list[Problem]]:
            values: dict[str, Any] = {}
            bad: list[Problem] = []
            for column in ("coach", "coachee", "sponsor"):
                found = self._party_cell(row, column, party, grants)
                if isinstance(found, str):
                    bad.append((row.line, column, found))
                else:
                    values[column] = found
            checks: tuple[tuple[str, Callable[[str], Any]], ...] = (
                ("sponsor_function", lambda v: require_member(SponsorFunction, v.lower(), "sponsor_function")),
                ("org_unit", lambda v: require_label(v, "org_unit")),
                ("first_meeting", lambda v: _past_day(v, today)),
            )
            for column, check_value in checks:
                try:
                    values[column] = check_value(row.cells[column])
                except InvalidInput as exc:
                    bad.append((row.line, column, exc.problem))
            people = [values.get(c) for c in ("coach", "coachee", "sponsor")]
            if None not in people and len({p.id for p in people if p is not None}) != 3:
                bad.append((row.line, "", "coach, coachee and sponsor must be three different parties"))
            coach, coachee = values.get("coach"), values.get("coachee")
            if not bad and coach is not None and coachee is not None and coachee.kind is PartyKind.TEAM:
                teams[coach.id] += 1
                active = self._active_teams(coach.id) + teams[coach.id]
                if active > self.path.capacity.refuse_above:
                    bad.append((row.line, "coach", f"the coach would accompany {active} teams at once; the limit is "
                                                   f"{self.path.capacity.refuse_above}"))
            return values, bad

        return check

    @staticmethod
    def _party_cell(row: Row, column: str, party: Callable[[UUID], Party | None],
                    grants: Any) -> Party | str:
        raw = row.cells[column]
        try:
            pid = UUID(raw)
        except ValueError:
            return f"{raw[:40]!r} is not a party id (a UUID)" if raw else "empty: a party id is required"
        found = party(pid)
        if found is None:
            return f"no party with id {pid} (import the parties first)"
        if found.erased:
            return f"party {pid} was erased"
        if column in ("coach", "sponsor") and found.kind is not PartyKind.PERSON:
            return f"a {column} is a person, not a team"
        if column == "coach" and Role.COACH.value not in grants.get(str(pid), frozenset()):
            return f"party {pid} holds no coach grant (etrack grant coach {pid})"
        return found

    def _active_teams(self, coach: UUID) -> int:
        try:
            return len(self.path.load(CoachLoad, CoachLoad.id_for(coach), "coach load").active)
        except NotFound:
            return 0

    def _import_engagement(self, planned: Planned) -> tuple[UUID, str]:
        v = planned.values
        coach = Actor(v["coach"].id, Role.COACH)
        opened = self.engagements.open(coach, v["coachee"].id, v["sponsor"].id, v["sponsor_function"],
                                       v["org_unit"], command_id=planned.command_id)
        if v["first_meeting"] is not None:
            try:
                self.engagements.hold_first_meeting(opened.value, coach, v["first_meeting"],
                                                    command_id=f"{planned.command_id}:first")
            except EtrackError:
                if opened.recorded_now:
                    raise
                # run again after the engagement moved on: its first meeting stands as recorded
        return opened.value, opened.status

    # --- both ------------------------------------------------------------------------------------

    @staticmethod
    def _duplicates(kind: str, plan: list[Planned]) -> Iterator[Problem]:
        """A row that repeats an earlier one (parties: kind, name and contact; engagements: coach,
        coachee and sponsor)."""
        seen: dict[tuple[Any, ...], int] = {}
        for planned in plan:
            v = planned.values
            key = ((v["kind"], v["name"].casefold(), (v["contact"] or "").casefold()) if kind == "parties"
                   else (v["coach"].id, v["coachee"].id, v["sponsor"].id))
            if key in seen:
                yield planned.line, "", f"repeats line {seen[key]}"
            else:
                seen[key] = planned.line


def _past_day(text: str, today: date) -> date | None:
    """An optional day (YYYY-MM-DD) not after ``today``."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("first_meeting", f"{text[:20]!r} is not a date (YYYY-MM-DD)") from None
    if len(text) != 10:
        raise InvalidInput("first_meeting", f"{text!r} is not a date (YYYY-MM-DD)")
    if day > today:
        raise InvalidInput("first_meeting", f"{day} is after today ({today}): a first meeting is recorded once held")
    return day


__all__ = ["LAYOUTS", "ImportService", "file_digest", "import_command_id", "looks_like_formula", "read_rows", "template"]
