"""The stored JSON is byte for byte what eventsourcing's JSONTranscoder writes (issue #28).

Stored events and snapshots are a public format. ``FastJSONTranscoder`` (adapters/transcoder.py)
encodes through msgspec; these tests hold it to the bytes ``json`` writes: every event and
snapshot of the frozen 0.1.0 store re-encoded, every event of a benchmark workload encoded both
ways and stored on each backend, and a property over arbitrary data (including what ``json``
refuses: both refuse it alike).
"""

from __future__ import annotations

import enum
import json
import math
import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper
from hypothesis import example, given
from hypothesis import strategies as st

from bench.workload import histories
from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.transcoder import FastJSONTranscoder
from engagement_tracker.domain import EngagementTracker, Role
from engagement_tracker.domain.values import Actor
from tests.integration.test_fixture_v0_1_0 import FIXTURE

FIXTURE_EVENTS = 455  # rows of stored_events in tests/fixtures/v0_1_0, as 0.1.0 wrote them


def transcoders(app: EngagementTracker) -> tuple[JSONTranscoder, JSONTranscoder]:
    """The application's transcoder and eventsourcing's own, with the same transcodings registered."""
    reference = JSONTranscoder()
    app.register_transcodings(reference)
    fast = app.mapper.transcoder
    assert isinstance(fast, FastJSONTranscoder)
    return fast, reference


@pytest.fixture(scope="module")
def memory_app() -> Any:
    app = open_tracker("memory:")
    yield app
    app.close()


def test_every_stored_row_of_the_frozen_store_re_encodes_to_its_bytes(memory_app: EngagementTracker,
                                                                      tmp_path: Path) -> None:
    """Read from a copy (the fixture is never opened in place); that it opens, verifies and replays
    through today's transcoder is tests/integration/test_fixture_v0_1_0.py."""
    copy = tmp_path / "etrack.sqlite"
    shutil.copyfile(FIXTURE / "etrack.sqlite", copy)
    fast, reference = transcoders(memory_app)
    conn = sqlite3.connect(copy)
    try:
        events = [row[0] for row in conn.execute("SELECT state FROM stored_events ORDER BY rowid")]
        snapshots = [row[0] for row in conn.execute("SELECT state FROM stored_snapshots")]
    finally:
        conn.close()
    assert len(events) == FIXTURE_EVENTS
    assert snapshots
    for state in events + snapshots:
        decoded = reference.decode(state)
        assert fast.encode(decoded) == state
        assert fast.decode(state) == decoded


def test_every_event_of_a_benchmark_workload_encodes_as_json_does(memory_app: EngagementTracker) -> None:
    _fast, reference = transcoders(memory_app)
    ours, theirs = memory_app.mapper, Mapper(transcoder=reference)
    count = 0
    for aggregate in histories(memory_app.sealer, 3_000):
        for event in aggregate.pending_events:
            assert ours.to_stored_event(event).state == theirs.to_stored_event(event).state
            count += 1
    assert count >= 3_000


def test_a_store_written_on_each_backend_holds_what_json_writes(durable_store_url: str) -> None:
    """Events saved through the store (the fast encoder writing) read back as json's bytes, and replay."""
    app = open_tracker(durable_store_url)
    try:
        fast, reference = transcoders(app)
        saved = list(histories(app.sealer, 400))
        app.save(*saved)
        notes = app.recorder.select_notifications(1, 10_000)
        assert len(notes) >= 400
        for note in notes:
            assert reference.encode(reference.decode(note.state)) == note.state
            assert fast.encode(fast.decode(note.state)) == note.state
        first = saved[0]
        assert app.repository.get(first.id).version == first.version
    finally:
        app.close()


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Tag(str):
    """A str subclass that is not an enum: json writes its characters."""


KEYS = st.one_of(st.text(max_size=6), st.integers(-5, 5), st.floats(allow_nan=False), st.booleans(), st.none())
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(), st.text(), st.text(alphabet=st.characters(max_codepoint=0x9F)), st.builds(Tag, st.text(max_size=5)),
    st.uuids(), st.datetimes(timezones=st.just(UTC)), st.dates(), st.decimals(allow_nan=False, places=3),
    st.binary(max_size=20), st.sampled_from(Role), st.sampled_from(Level),
    st.builds(Actor, st.uuids(), st.sampled_from(Role)), st.frozensets(st.integers(), max_size=2),
)
DATA = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)


def outcome(encode: Any, value: Any) -> Any:
    """The bytes written, or the kind of error raised."""
    try:
        return encode(value)
    except Exception as exc:  # the comparison is the test: both sides must fail alike
        return type(exc)


@given(DATA)
@example({1: "a", "1": "b"})  # two keys json writes alike: json keeps both
@example({"n": [math.nan, math.inf, -math.inf, -0.0, 1e-7, 1e16, 123456789.125]})
@example({"t": "\x00\x1f\x7f\u2028\ud800 \"\\/"})
@example({"when": datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(microseconds=5), "on": date(2025, 1, 2),
          "amount": Decimal("1.10"), True: None, None: False, 2.5: [Level.HIGH, Tag("x")]})
@example([[[[[]]]]])
def test_arbitrary_data_is_written_as_json_writes_it(memory_app: EngagementTracker, value: Any) -> None:
    fast, reference = transcoders(memory_app)
    expected = outcome(reference.encode, value)
    assert outcome(fast.encode, value) == expected


def revived(decode: Any, data: bytes) -> Any:
    """What a decoder read, written again by json (NaN is not equal to itself), or its kind of error."""
    return outcome(lambda d: json.dumps(decode(d), default=repr, sort_keys=False), data)


@given(DATA)
@example({"_type_": "uuid_hex", "_data_": "00000000000000000000000000000001", "extra": 1})
@example({"x": {"_type_": "no_such_transcoding", "_data_": 1}})
@example({"x": {"_type_": ["unhashable"], "_data_": 1}})
@example({"x": {"_type_": "etrack.actor"}})
def test_what_is_written_reads_back_as_json_reads_it(memory_app: EngagementTracker, value: Any) -> None:
    fast, reference = transcoders(memory_app)
    try:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=reference._encode_obj).encode()
    except (TypeError, ValueError):
        return  # not JSON: the encoding property covers it
    assert revived(fast.decode, data) == revived(reference.decode, data)


@pytest.mark.parametrize("data", [b"NaN", b'{"a":1e400,"b":-Infinity}', b"123456789012345678901234567890",
                                  b'{"a":1,"a":2}', b"\xff", b'"\\ud800"', b' {"a" : [1, 2.5] } ', b'{"a":1}x',
                                  b'[{"_type_":"date_iso","_data_":"2025-01-02"}, null]', b'"plain"'])
def test_odd_json_reads_back_as_json_reads_it(memory_app: EngagementTracker, data: bytes) -> None:
    fast, reference = transcoders(memory_app)
    assert revived(fast.decode, data) == revived(reference.decode, data)


def test_a_circular_structure_is_refused_as_json_refuses_it(memory_app: EngagementTracker) -> None:
    fast, reference = transcoders(memory_app)
    loop: list[Any] = []
    loop.append(loop)
    assert outcome(fast.encode, loop) is outcome(reference.encode, loop) is ValueError


def test_a_transcoding_registered_later_is_used(memory_app: EngagementTracker) -> None:
    """The encoder's cache of handlers is dropped when a transcoding is registered."""
    from eventsourcing.persistence import Transcoding

    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    class PointAsInt(Transcoding):
        type = Point
        name = "point"

        def encode(self, obj: Point) -> int:
            return obj.x

        def decode(self, data: int) -> Point:
            return Point(data)

    fast = FastJSONTranscoder()
    memory_app.register_transcodings(fast)
    with pytest.raises(TypeError, match="serializ"):
        fast.encode({"p": Point(1)})
    fast.register(PointAsInt())
    assert fast.encode({"p": Point(3), "id": UUID(int=1)}) == (
        b'{"p":{"_type_":"point","_data_":3},"id":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"}}')
