"""The store contract, run against SQLite, Azure Tables (Azurite) and the in-memory store."""
import sqlite3
import time
import uuid
from dataclasses import replace

import pytest

from server.store import Connection, Dial, DialStatus, Message, MessageStatus, Presence, StoreConflict, StoreUnavailable
from server.store.memory import MemoryStore
from server.store.sqlite import SqliteStore
from server.store.tables import TableStore


@pytest.fixture(params=["sqlite", "azurite", "memory"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "t.db")
    elif request.param == "memory":
        s = MemoryStore()
    else:
        s = TableStore(request.getfixturevalue("azurite"), "T" + uuid.uuid4().hex[:12])
    yield s
    s.close()


def message(mid: str, user: str = "u1", status: str = MessageStatus.QUEUED) -> Message:
    now = time.time()
    return Message(mid, user, "myhub", '{"PhoneNumber": "1"}', status, created=now, expires=now + 30)


def test_connections_upsert_reports_new_and_follows_owner(store):
    assert store.upsert_connection(Connection("u1", "c1", "myhub", 1, 1.0)) is True
    assert store.upsert_connection(Connection("u1", "c1", "myhub", 1, 2.0)) is False
    assert [c.connection_id for c in store.user_connections("u1", "myhub")] == ["c1"]
    # the service's word on the owner replaces an earlier claim
    store.upsert_connection(Connection("u2", "c1", "myhub", 1, 3.0))
    assert store.get_connection("c1").user_id == "u2"
    assert store.user_connections("u1", "myhub") == []
    assert store.remove_connection("c1") is True
    assert store.remove_connection("c1") is False
    assert store.get_connection("c1") is None


def test_messages_complete_once_and_ids_are_unique(store):
    store.add_message(message("m1"))
    with pytest.raises(StoreConflict):
        store.add_message(message("m1", user="other"))
    store.mark_sent("m1", 5.0)
    store.mark_sent("m1", 6.0)
    m = store.get_message("m1")
    assert (m.status, m.sent, m.deliveries, m.user_id) == ("sent", 5.0, 2, "u1")
    assert [x.message_id for x in store.open_messages("u1", "myhub")] == ["m1"]
    assert store.complete_message("m1", MessageStatus.ACCEPTED, None, 7.0) is True
    assert store.complete_message("m1", MessageStatus.REJECTED, "late", 8.0) is False
    m = store.get_message("m1")
    assert (m.status, m.completed, m.reason) == ("accepted", 7.0, None)
    assert store.open_messages("u1", "myhub") == []
    assert store.get_message("nope") is None


def test_dials_record_each_attempt_once_and_list_the_due_ones(store):
    request = '{"number":"+15551234567","record":{"name":"Ann \u00e9"}}'
    dial = Dial("d-1", "u1", "myhub", request, DialStatus.PENDING, 10.0, next_attempt=10.0)
    store.add_dial(dial)
    store.add_dial(Dial("d-2", "u1", "myhub", "{}", DialStatus.PENDING, 11.0, next_attempt=50.0))
    with pytest.raises(StoreConflict):
        store.add_dial(replace(dial, user_id="other"))
    assert store.get_dial("d-1") == dial and store.get_dial("nope") is None
    assert [d.dial_id for d in store.due_dials(20.0, 10)] == ["d-1"]
    retry = replace(dial, attempts=1, next_attempt=12.0, error="HTTP 503")
    assert store.record_dial_attempt(retry, attempts_before=0) is True
    assert store.record_dial_attempt(replace(retry, error="late"), attempts_before=0) is False  # attempt 1 is taken
    assert store.get_dial("d-1") == retry
    assert [d.dial_id for d in store.due_dials(60.0, 10)] == ["d-1", "d-2"] and store.due_dials(60.0, 1)[0].dial_id == "d-1"
    done = replace(retry, status=DialStatus.DELIVERED, attempts=2, next_attempt=None, completed=13.0, error=None)
    assert store.record_dial_attempt(done, attempts_before=1) is True
    assert store.get_dial("d-1") == done and store.get_dial("d-1").request == request
    assert store.record_dial_attempt(replace(done, attempts=3), attempts_before=2) is False  # final stays final
    assert [d.dial_id for d in store.due_dials(60.0, 10)] == ["d-2"]


def test_filter_values_are_data_not_query(store):
    """A user id full of OData/SQL syntax matches only itself."""
    evil = "x' or PartitionKey ne '' or '1' eq '1"
    store.upsert_connection(Connection("plain", "c-plain", "myhub", 1, 1.0))
    store.upsert_connection(Connection(evil, "c-evil", "myhub", 1, 1.0))
    assert [c.connection_id for c in store.user_connections(evil, "myhub")] == ["c-evil"]


def test_sqlite_read_only_is_unavailable_and_keeps_data(tmp_path):
    """A read-only database (root ignores file modes, so query_only plays the read-only
    volume) raises StoreUnavailable — a 503 — and writes nothing."""
    path = tmp_path / "ro.db"
    store = SqliteStore(path)
    store.add_message(message("keep"))
    store._db().execute("PRAGMA query_only=1")
    with pytest.raises(StoreUnavailable):
        store.add_message(message("new"))
    with pytest.raises(StoreUnavailable):
        store.complete_message("keep", MessageStatus.ACCEPTED, None, 1.0)
    fresh = SqliteStore(path)
    assert fresh.get_message("keep").status == "queued"
    assert fresh.get_message("new") is None


def test_locked_sqlite_is_unavailable_not_a_crash(tmp_path):
    path = tmp_path / "locked.db"
    store = SqliteStore(path)
    fast = SqliteStore(path, busy_timeout=0.1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            fast.add_message(message("m-locked"))
    finally:
        blocker.execute("ROLLBACK")
    assert store.get_message("m-locked") is None


def test_writers_of_one_process_queue_in_order_and_all_commit(tmp_path):
    """32 threads writing at once: none is refused, none is lost."""
    import concurrent.futures

    store = SqliteStore(tmp_path / "busy.db", busy_timeout=30)
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: store.add_message(message(f"m-{i}")), range(400)))
    assert len(store.recent_messages(1000)) == 400


def test_a_writer_that_cannot_get_in_within_the_busy_timeout_is_unavailable(tmp_path):
    import threading

    store = SqliteStore(tmp_path / "queue.db", busy_timeout=0.2)
    with store._tx(write=True):  # this thread holds the write turn
        failed = []
        t = threading.Thread(target=lambda: failed.append(pytest.raises(StoreUnavailable, store.add_message,
                                                                       message("m-late"))))
        t.start()
        t.join()
    assert failed and store.get_message("m-late") is None


def test_clear_connections_forgets_only_that_hub(store):
    store.upsert_connection(Connection("u1", "c1", "myhub", 1, 1.0))
    store.upsert_connection(Connection("u2", "c2", "myhub", 1, 1.0))
    store.upsert_connection(Connection("u3", "c3", "otherhub", 1, 1.0))
    assert store.clear_connections("myhub") == 2
    assert store.all_connections("myhub") == []
    assert [c.connection_id for c in store.all_connections("otherhub")] == ["c3"]


def test_azurite_stopped_is_unavailable_soon_and_nothing_is_lost_when_it_returns(tmp_path):
    from tests.conftest import free_port, start_azurite

    port = free_port()
    proc, connection_string = start_azurite(tmp_path, port, persist=True)
    try:
        store_id = uuid.uuid4().hex[:8]
        store = TableStore(connection_string, "Stopped" + store_id)
        store.add_message(message("kept-" + store_id))
        # Azurite saves to disk every few seconds (a graceful stop waits for idle keep-alive
        # connections, sometimes for minutes): wait for the save, then kill it.
        deadline = time.monotonic() + 30
        while not any(f"kept-{store_id}" in p.read_text(errors="ignore") for p in tmp_path.glob("__azurite_db_table*")):
            assert time.monotonic() < deadline, "Azurite did not save its data in 30 s"
            time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=10)
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.add_message(message("while-down"))
        with pytest.raises(StoreUnavailable):
            store.get_message("kept-" + store_id)
        # a request must get its 503 while the caller still waits (the SDK's default retries take minutes)
        assert time.monotonic() - t0 < 5
        proc, _ = start_azurite(tmp_path, port, persist=True)
        assert store.get_message("kept-" + store_id).status == MessageStatus.QUEUED
        assert store.get_message("while-down") is None  # no partial write
        store.add_message(message("after"))
        assert store.get_message("after") is not None
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_cancelled_message_is_final_and_never_open_again(store):
    store.add_message(message("m-c"))
    assert store.complete_message("m-c", MessageStatus.CANCELLED, "caller_abandoned", 4.0) is True
    m = store.get_message("m-c")
    assert (m.status, m.reason, m.completed) == ("cancelled", "caller_abandoned", 4.0)
    assert store.open_messages("u1", "myhub") == []  # never delivered on a later connect
    assert store.complete_message("m-c", MessageStatus.ACCEPTED, None, 5.0) is False  # a late ack changes nothing
    assert store.get_message("m-c").status == "cancelled"


def test_presence_one_record_per_user_replaced_by_the_latest(store):
    assert store.get_presence("u1") is None and store.all_presence() == []
    first = Presence("u1", "available", "Available", "AVAILABLE", "p-1", 1.5)
    store.set_presence(first)
    assert store.get_presence("u1") == first
    later = Presence("u1", "do_not_disturb", "Busy - DND", None, None, 2.5)
    store.set_presence(later)
    evil = "x' or PartitionKey ne '' or '1' eq '1/#?"  # key characters and filter syntax are data
    store.set_presence(Presence(evil, "away", "Away – in training", "AWAY", "p-3", 3.0))
    assert store.get_presence("u1") == later
    assert store.all_presence() == sorted([later, store.get_presence(evil)], key=lambda p: p.user_id)
    assert store.get_presence(evil).presence_text == "Away – in training"
