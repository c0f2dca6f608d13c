"""The server processes' garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tidings.runtime import gc_tuning


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_freezes_startup_objects_and_raises_thresholds(restore_gc: None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_GC_TUNING", raising=False)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert gc_tuning.tune() is True
    assert gc.get_freeze_count() > 1000  # everything imported so far is out of the collector's way
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.isenabled()  # cycles are still collected


@pytest.mark.parametrize("value", ["off", "0", "false", "NO"])
def test_off_keeps_the_interpreter_defaults(restore_gc: None, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TIDINGS_GC_TUNING", value)
    gc.unfreeze()
    before = gc.get_threshold()
    assert gc_tuning.tune() is False
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
