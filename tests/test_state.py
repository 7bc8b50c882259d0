"""State is saved atomically, restored, and a corrupt file is moved aside once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from dlworkshop import state as state_store
from dlworkshop.paths import state_file


def test_round_trip_and_private_file(home: Path) -> None:
    s = state_store.State(mode="sandbox", region="eu-west-1", key_path="/k.pem")
    s.record("sandbox", "overview.credentials", True, "account 1")
    state_store.save(s)
    loaded = state_store.load()
    assert loaded.warning is None
    assert loaded.state == s
    assert stat.S_IMODE(state_file().stat().st_mode) == 0o600
    # No temp files are left behind by the atomic write.
    assert sorted(p.name for p in home.iterdir()) == ["state.json", "state.json.lock"]


def test_missing_file_is_a_fresh_start(home: Path) -> None:
    loaded = state_store.load()
    assert loaded.warning is None
    assert loaded.state == state_store.State()


def test_update_is_read_modify_write(home: Path) -> None:
    state_store.update(lambda s: setattr(s, "stack_name", "mine"))
    state_store.update(lambda s: s.record("aws", "lab1.stack", False, "ROLLBACK_COMPLETE"))
    s = state_store.load().state
    assert s.stack_name == "mine"
    assert s.results("aws")["lab1.stack"]["status"] == "failed"
    assert s.results("sandbox") == {}


def test_corrupt_file_is_moved_aside_and_reported_once(home: Path) -> None:
    state_file().write_text('{"mode": "sandbox", "progress": ')
    first = state_store.load()
    assert first.warning is not None
    assert "could not be read" in first.warning
    assert first.state == state_store.State()
    kept = list(home.glob("state.json.corrupt-*"))
    assert len(kept) == 1
    assert kept[0].read_text() == '{"mode": "sandbox", "progress": '
    assert str(kept[0]) in first.warning
    # Reported once: the next load starts clean.
    assert state_store.load().warning is None


def test_wrong_shape_counts_as_corrupt(home: Path) -> None:
    state_file().write_text(json.dumps({"progress": ["not", "a", "mapping"]}))
    loaded = state_store.load()
    assert loaded.warning and "progress" in loaded.warning
    state_file().write_text(json.dumps([1, 2]))
    assert state_store.load().warning
    assert len(list(home.glob("state.json.corrupt-*"))) == 2


def test_unknown_keys_from_newer_versions_are_ignored(home: Path) -> None:
    state_file().write_text(json.dumps({"version": 9, "stack_name": "x", "future": 1}))
    loaded = state_store.load()
    assert loaded.warning is None
    assert loaded.state.stack_name == "x"


def test_any_unreadable_state_is_moved_aside(home: Path) -> None:
    state_file().mkdir()
    first = state_store.load()
    assert first.warning and "is a directory" in first.warning
    assert [p.is_dir() for p in home.glob("state.json.corrupt-*")] == [True]
    state_file().write_text("[" * 100_000 + "]" * 100_000)
    deep = state_store.load()
    assert deep.warning and "nested too deeply" in deep.warning
    state_store.update(lambda s: setattr(s, "stack_name", "again"))
    assert state_store.load().state.stack_name == "again"


def test_a_pass_that_no_longer_holds_is_gone_not_failed(home: Path) -> None:
    s = state_store.State()
    s.record("sandbox", "lab2.pushed", False, "no image")
    assert s.results("sandbox")["lab2.pushed"]["status"] == "failed"  # never passed
    s.record("sandbox", "lab2.pushed", True, "pushed")
    s.record("sandbox", "lab2.pushed", False, "There is no stack called dlworkshop")
    assert s.results("sandbox")["lab2.pushed"]["status"] == "gone"
    s.record("sandbox", "lab2.pushed", False, "still none")
    assert s.results("sandbox")["lab2.pushed"]["status"] == "gone"  # stays gone
    s.record("sandbox", "lab2.pushed", True, "pushed again")
    assert s.results("sandbox")["lab2.pushed"]["status"] == "passed"
    state_store.save(s)
    assert state_store.load().state.results("sandbox")["lab2.pushed"]["status"] == "passed"
