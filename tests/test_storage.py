"""Storage: one transaction per change, append-only audit trail, no duplicate from a retry."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from storage import DuplicateMessage, NewTicket, Notice, Status, open_storage
from storage.db import MIGRATIONS


@pytest.fixture
def store(tmp_path):
    s = open_storage(tmp_path / "wuye.db")
    yield s
    s.close()


def _new(**kw) -> NewTicket:
    base = dict(channel="mp", resident_id=None, text="楼上漏水", category="漏水", urgency="紧急", department="工程维修部",
                building="3")
    return NewTicket(**{**base, **kw})


def test_numbers_are_short_integers_in_order(store):
    assert [store.tickets.create(_new(), "o", "t").number for _ in range(3)] == [1, 2, 3]


def test_ticket_event_and_notice_commit_together(store):
    t = store.tickets.create(_new(), "o", "2026-11-26T02:00:00+00:00", [Notice("group", "3", "new_ticket", {})])
    assert [e.kind for e in store.tickets.events(t.number)] == ["created"]
    assert [r.kind for r in store.outbox.for_ticket(t.number)] == ["new_ticket"]


def test_a_failing_notice_rolls_back_the_ticket(store):
    store.database.db.execute("DROP TABLE outbox")
    with pytest.raises(sqlite3.OperationalError):
        store.tickets.create(_new(), "o", "t", [Notice("group", "3", "new_ticket", {})])
    assert store.tickets.count() == 0
    assert store.database.db.execute("SELECT count(*) FROM ticket_events").fetchone()[0] == 0


def test_outer_transaction_rolls_back_profile_and_ticket(store):
    r = store.residents.ensure_openid("o1", "t")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.residents.update(r.id, "t", building="9")
            store.tickets.create(_new(resident_id=r.id), "o1", "t")
            raise RuntimeError("boom")
    assert store.tickets.count() == 0
    assert store.residents.get(r.id).building == ""


def test_same_source_message_never_makes_a_second_ticket(store):
    store.tickets.create(_new(source_msg_id="mp:msg:1"), "o", "t")
    with pytest.raises(DuplicateMessage) as e:
        store.tickets.create(_new(source_msg_id="mp:msg:1"), "o", "t")
    assert e.value.number == 1 and store.tickets.count() == 1


def test_events_are_append_only(store):
    t = store.tickets.create(_new(), "o", "t")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.database.db.execute("UPDATE ticket_events SET actor = 'x' WHERE ticket = ?", [t.number])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.database.db.execute("DELETE FROM ticket_events")


def test_owner_is_separate_from_assignee_and_staff_intake_owns(store):
    t = store.tickets.create(_new(owner="staff-li"), "staff-li", "t")
    assert t.owner == "staff-li" and t.assignee == "staff-li"
    assert store.tickets.create(_new(), "o", "t").owner == ""


def test_cancel_records_event(store):
    t = store.tickets.create(_new(), "o", "t")
    assert store.tickets.cancel(t.number, "o", "t2").status is Status.CANCELLED
    assert store.tickets.events(t.number)[-1].kind == "cancelled"


def test_migration_is_idempotent_and_versioned(tmp_path):
    a = open_storage(tmp_path / "x.db")
    a.tickets.create(_new(), "o", "t")
    a.close()
    b = open_storage(tmp_path / "x.db")
    assert b.database.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert b.tickets.count() == 1
    assert b.database.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_resident_profile_bound_to_openid(store):
    r = store.residents.ensure_openid("o1", "t")
    assert store.residents.ensure_openid("o1", "t").id == r.id
    store.residents.update(r.id, "t", building="3", unit="2", room="1201", phone="")
    got = store.residents.by_openid("o1")
    assert (got.building, got.unit, got.room, got.phone) == ("3", "2", "1201", "")


def test_concurrent_writers_from_threads_and_processes_lose_nothing(tmp_path):
    path = tmp_path / "c.db"
    open_storage(path).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        s = open_storage(path)
        try:
            for i in range(25):
                s.tickets.create(_new(source_msg_id=f"t{n}-{i}"), "o", "t", [Notice("group", "3", "k", {})])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            s.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = open_storage(path)
    assert not errors
    assert s.tickets.count() == 150
    assert s.outbox.counts() == {"pending": 150}


def test_outbox_claim_is_exclusive(store):
    store.tickets.create(_new(), "o", "2026-01-01T00:00:00+00:00", [Notice("group", "3", "new_ticket", {})])
    row = store.outbox.due("2026-01-01T00:00:00+00:00")[0]
    assert store.outbox.claim(row.id, "2026-01-01T00:00:00+00:00", "2026-01-01T00:05:00+00:00")
    assert not store.outbox.claim(row.id, "2026-01-01T00:00:00+00:00", "2026-01-01T00:05:00+00:00")
    assert store.outbox.due("2026-01-01T00:01:00+00:00") == []
    assert [r.id for r in store.outbox.due("2026-01-01T00:06:00+00:00")] == [row.id]  # lease expired
