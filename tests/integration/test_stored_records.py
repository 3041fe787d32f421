"""What adapters/stored_records.py reads straight from the stored bytes equals eventsourcing's own decoding.

Projections decode only what they read: the result is the same as decoding every event fully,
on a real SQLite file and on PostgreSQL, with and without encryption at rest.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.bootstrap import new_cipher_key
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.adapters.stored_records import ACTED, Decoded, scan_stamp, scan_to_state, stamp_of_state
from engagement_tracker.projections.activity import activity_facts, counts
from engagement_tracker.projections.anonymity import tally
from engagement_tracker.projections.audit_chain import StoredRecord
from engagement_tracker.projections.testimonials import TESTIMONIALS
from engagement_tracker.projections.testimonials import testimonial_facts as rating_facts  # not a test
from engagement_tracker.projections.weak_signals import concerns, signal_facts, update_sources
from tests.integration.test_sqlite_roundtrip import record_every_event_type
from tests.support import Cast, FakeClock, new_tracker


@pytest.fixture(params=["plain", "encrypted"])
def history(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"ETRACK_CIPHER_KEY": new_cipher_key()} if request.param == "encrypted" else {}
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock(), **env)
    record_every_event_type(app, Cast.register(app))
    yield app
    app.close()


@pytest.fixture(params=["plain", "encrypted"])
def stored(request: pytest.FixtureRequest, durable_store_url: str):  # type: ignore[no-untyped-def]
    """Every event type recorded in a real store: an SQLite file or a PostgreSQL schema."""
    env = {"ETRACK_CIPHER_KEY": new_cipher_key()} if request.param == "encrypted" else {}
    app = new_tracker(durable_store_url, FakeClock(), **env)
    record_every_event_type(app, Cast.register(app))
    yield app
    app.close()


def full_stamp(event) -> tuple[str | None, str | None, str | None]:  # type: ignore[no-untyped-def]
    """What the trail stated when it decoded every event into domain objects."""
    who = getattr(event, "actor", None)
    stamp = getattr(event, "timestamp", None)
    return (str(who.party) if who else None, str(who.role.value) if who else None,
            stamp.isoformat() if isinstance(stamp, datetime) else None)


def test_the_stamp_read_from_stored_json_equals_the_decoded_event(history) -> None:  # type: ignore[no-untyped-def]
    notifications = history.recorder.select_notifications(1, 100_000)
    topics = set()
    scanned = 0
    for n in notifications:
        d = Decoded.of(history.mapper, n)
        assert d.stamp == full_stamp(history.mapper.to_domain_event(n)), n.topic  # read from the bytes
        if n.topic in ACTED:  # every event with an actor field takes the byte scan, and agrees
            assert scan_stamp(d.plain_state()) == d.stamp, n.topic
            scanned += 1
        assert d.event is not None and stamp_of_state(json.loads(d.plain_state())) == d.stamp
        topics.add(n.topic)
    assert len(topics) > 40  # every event type of every aggregate was recorded
    assert scanned >= len(notifications) - 6  # all but the few events without an actor field (the registers' Created)
    assert any(Decoded.of(history.mapper, n).stamp[0] for n in notifications)  # actors are stamped


def test_the_to_state_read_from_stored_json_equals_the_decoded_event(history) -> None:  # type: ignore[no-untyped-def]
    with_state = 0
    for n in history.recorder.select_notifications(1, 100_000):
        d = Decoded.of(history.mapper, n)
        want = getattr(history.mapper.to_domain_event(n), "to_state", None)
        assert d.to_state == want, n.topic
        if want is not None:
            assert scan_to_state(d.plain_state()) == want, n.topic  # the byte scan, not the parse
            with_state += 1
    assert with_state > 40


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"to_state":"framing.first_meeting","x":1}', "framing.first_meeting"),
    (b'{"x":1}', None),
    (b'{"to_state":"a","v":{"to_state":"b"}}', None),  # twice: parse instead
    (b'{"to_state":"a\\u002eb"}', None),  # an escape: parse instead
    (b'{"note":"she wrote \\"to_state\\": x","to_state":"closed"}', "closed"),
])
def test_the_to_state_byte_scan_reads_only_what_is_certain(data: bytes, expected: str | None) -> None:
    assert scan_to_state(data) == expected


def test_analytics_reads_only_what_it_counts_and_misses_nothing(history) -> None:  # type: ignore[no-untyped-def]
    notifications = history.recorder.select_notifications(1, 100_000)
    sources: dict = {}
    expected = []
    for n in notifications:  # every event decoded and shown to every fact function
        event = history.mapper.to_domain_event(n)
        changed = update_sources(event, sources) is not None
        facts = signal_facts(event, sources) + activity_facts(event, sources) + rating_facts(event, sources)
        assert not (changed or facts) or concerns(n.topic) or counts(n.topic) or n.topic in TESTIMONIALS, n.topic
        expected.extend(facts)
    runner = ProjectionRunner(history)
    runner.rebuild()
    analytics = bootstrap.analytics(history)
    assert analytics.view.facts() == expected and expected
    assert set(analytics.view.tallies("signal") + analytics.view.tallies("activity")
               + analytics.view.tallies("testimonial")) == set(tally(expected))
    assert len(bootstrap.audit_trail(history).view.entries()) == len(notifications)
    assert bootstrap.audit_trail(history).verify().ok


def test_an_unreadable_record_is_chained_unstamped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock(), ETRACK_CIPHER_KEY=new_cipher_key())
    Cast.register(app)
    app.close()
    wrong = new_tracker(url, FakeClock(), ETRACK_CIPHER_KEY=new_cipher_key())
    n = wrong.recorder.select_notifications(1, 1)[0]
    d = Decoded.of(wrong.mapper, n)
    assert d.stamp == (None, None, None) and d.event is None
    wrong.close()


ACTOR = ('{"_type_":"etrack.actor","_data_":{"party":{"_type_":"uuid_hex","_data_":'
         '"0123456789abcdef0123456789abcdef"},"role":"coach"}}')
STAMP = '{"_type_":"datetime_iso","_data_":"2026-01-05T09:00:00+00:00"}'


@pytest.mark.parametrize(("doc", "expected"), [
    ('{"timestamp":%s,"actor":%s,"x":1}' % (STAMP, ACTOR),
     ("01234567-89ab-cdef-0123-456789abcdef", "coach", "2026-01-05T09:00:00+00:00")),
    ('{"timestamp":%s,"actor":null}' % STAMP, (None, None, "2026-01-05T09:00:00+00:00")),
    ('{"timestamp":%s,"actor":%s,"v":{"actor":null}}' % (STAMP, ACTOR), None),  # a second "actor": parse
    ('{"timestamp":%s,"actor":{"_type_":"etrack.actor","_data_":{"role":"coach","party":null}}}' % STAMP, None),
    ('{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-05T09:00:00\\u002b00:00"},"actor":null}', None),
    ('{"timestamp":%s,"note":"she said \\"actor\\": no","actor":null}' % STAMP,
     (None, None, "2026-01-05T09:00:00+00:00")),  # inside a string the quotes are escaped: not a key
    ('{"actor":null}', None),
])
def test_the_byte_scan_reads_only_what_a_parse_would(doc: str, expected: object) -> None:
    data = doc.encode()
    assert scan_stamp(data) == expected
    if expected is not None:
        assert stamp_of_state(json.loads(data)) == expected


def test_a_time_that_is_not_a_time_is_not_counted_from_the_stamp(tmp_path: Path) -> None:
    import sqlite3
    from datetime import timedelta

    from engagement_tracker.domain import StoreError
    from tests.support import START, in_accompaniment

    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast, eid = in_accompaniment(app)
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], "notes")
    app.close()
    with sqlite3.connect(tmp_path / "etrack.sqlite") as con:  # a session counted from its stamp, time forged
        changed = con.execute("UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), "
                              "'\"datetime_iso\",\"_data_\":\"2026', '\"datetime_iso\",\"_data_\":\"garbage') "
                              "AS BLOB) WHERE topic = 'etrack:Engagement.SessionHeld'").rowcount
    assert changed == 1
    app = new_tracker(url, FakeClock())
    with pytest.raises(StoreError, match="cannot decode position"):
        bootstrap.analytics(app).catch_up()  # decoded, refused: never a fact in month "garbage"
    app.close()


@pytest.mark.parametrize("forged", ["2026W111T101010+00:00", "20260310T101010", "2026-03-10"])
def test_only_the_time_isoformat_writes_is_read_from_the_stamp(forged: str) -> None:
    from engagement_tracker.projections.analytics import iso_time

    assert iso_time(forged) is None  # another form fromisoformat accepts: the event is decoded instead
    assert iso_time("2026-03-10T10:10:10.000123-11:30:07").month == 3  # type: ignore[union-attr]


# --- the backend's reader against eventsourcing's own reads, on SQLite and PostgreSQL ---------------


def test_pages_equal_eventsourcings_decoding(stored) -> None:  # type: ignore[no-untyped-def]
    """Every record of a page: its fields as eventsourcing reads them, its stamp and event as it decodes them."""
    records = bootstrap.read_model_backend(stored).records
    notifications = stored.recorder.select_notifications(1, 100_000)
    page = records.page(1, 100_000)
    assert [r.id for r in page] == [n.id for n in notifications] and len(page) > 40
    for r, n in zip(page, notifications, strict=True):
        event = stored.mapper.to_domain_event(n)
        assert (r.originator_id, r.originator_version, r.topic, bytes(r.state)) == (
            str(n.originator_id), n.originator_version, n.topic, bytes(n.state)), n.id
        assert r.stamp == full_stamp(event), n.topic
        assert r.event == event and type(r.event) is type(event), n.topic
    middle = notifications[len(notifications) // 2].id  # a page from a position on, as catch-up reads it
    assert [r.id for r in records.page(middle, 7)] == [n.id for n in notifications if n.id >= middle][:7]


def test_every_row_and_the_joined_scan_equal_eventsourcings_reads(stored) -> None:  # type: ignore[no-untyped-def]
    """What verification reads (every row; the store joined with the trail) is what eventsourcing stored."""
    trail = bootstrap.audit_trail(stored)
    trail.catch_up()
    notifications = stored.recorder.select_notifications(1, 100_000)
    expected = [StoredRecord(n.id, str(n.originator_id), n.originator_version, n.topic,
                             hashlib.sha256(n.state).hexdigest()) for n in notifications]
    assert list(trail.events.records()) == expected
    entries = trail.view.entries()

    def joined(scan, count, seals):  # type: ignore[no-untyped-def]
        return [tuple(row) for page in scan.pages for row in page], scan.canonical, count, seals

    scanned = trail.events.scan(joined)
    assert scanned is not None, "both backends join the store with the trail in the database"
    rows, canonical, count, seals = scanned
    assert count == len(entries) == len(notifications)
    sealed = stored.recorder.record_key is not None  # SQLite's key file; PostgreSQL here has no ETRACK_RECORD_KEY
    assert (seals is not None) == sealed and (seals is None or seals.count == len(notifications))
    for row, n, e in zip(rows, notifications, entries, strict=True):
        assert (row[0], canonical(row[1]), row[2], row[3], bytes(row[4])) == (
            n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        stamp = f"{e.actor or ''}|{e.role or ''}|{e.recorded_at or ''}"  # as the chain line ends
        assert row[5:11] == (e.aggregate_id, 1, e.state_sha256, stamp, e.prev_hash, e.entry_hash)
        assert (row[11] is not None) == sealed and (row[13] is not None) == sealed


def test_the_names_a_reader_keeps_stay_bounded_and_right() -> None:
    """More distinct actors than a reader keeps (issue #28: memory flat in the size of the store): the cache
    never holds more than NAMES_KEPT, and every stamp read after it was emptied is still the right one."""
    from uuid import uuid4

    from engagement_tracker.adapters import stored_records

    parties = [uuid4() for _ in range(stored_records.NAMES_KEPT + 100)]
    for party in [*parties, *parties[:50]]:
        doc = ('{"timestamp":%s,"actor":%s}' % (STAMP, ACTOR.replace("0123456789abcdef" * 2, party.hex))).encode()
        assert scan_stamp(doc) == (str(party), "coach", "2026-01-05T09:00:00+00:00")
        assert len(stored_records._PARTIES) <= stored_records.NAMES_KEPT
