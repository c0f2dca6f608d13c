from __future__ import annotations

import pytest

from tidings.core.statuses import Status, can_transition, sources_for


@pytest.mark.parametrize("final", [s for s in Status if s.is_final and s is not Status.UNKNOWN])
def test_final_statuses_never_move(final: Status) -> None:
    assert not any(can_transition(final, new) for new in Status)


def test_receipts_never_move_backwards() -> None:
    assert can_transition(Status.QUEUED, Status.DISPATCHED)
    assert can_transition(Status.DISPATCHED, Status.DELIVERED)
    assert not can_transition(Status.DISPATCHED, Status.QUEUED)
    assert not can_transition(Status.DELIVERED, Status.DISPATCHED)
    assert not can_transition(Status.DISPATCHED, Status.DISPATCHED)


def test_receipt_may_arrive_before_dispatch_is_recorded() -> None:
    assert can_transition(Status.QUEUED, Status.DELIVERED)


def test_cancel_only_before_dispatch() -> None:
    assert can_transition(Status.QUEUED, Status.CANCELLED)
    assert not can_transition(Status.DISPATCHED, Status.CANCELLED)


def test_unknown_is_refined_by_a_definite_receipt() -> None:
    assert can_transition(Status.UNKNOWN, Status.DELIVERED)
    assert not can_transition(Status.UNKNOWN, Status.QUEUED)


def test_sources_for_delivered() -> None:
    assert set(sources_for(Status.DELIVERED)) == {Status.QUEUED, Status.DISPATCHED, Status.UNKNOWN}
