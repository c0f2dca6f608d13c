"""XMS delivery feedback (`POST /batches/{batch_id}/delivery_feedback`): the customer's own word
that recipients got a batch's message — a code entered, a link opened — where a receipt only
gives the carrier's. Only a batch sent with `feedback_enabled: true` takes it. Each recipient's
confirmation is recorded once on its delivery (`deliveries.feedback_ms`) and counted by the
route that carried it (`tidings_sms_delivery_feedback_total`). It changes no status: the status
is what the carrier reported.
"""

from __future__ import annotations

from collections import Counter

from tidings.actions.batch_checks import INVALID_FORMAT, MISSING, check_recipients, invalid, validate_numbers_in_slices
from tidings.core.errors import NotFound
from tidings.observability.metrics import DELIVERY_FEEDBACK
from tidings.runtime.context import Context
from tidings.store.queries import batches as q

__all__ = ["check_feedback", "do_delivery_feedback"]


def check_feedback(payload: object, max_recipients: int) -> tuple[str, ...]:
    """The recipients a feedback request names, in E.164; empty means every recipient. The
    `recipients` key is required even then, and nothing else may be sent."""
    if not isinstance(payload, dict):
        raise invalid("body", "must be a JSON object", INVALID_FORMAT)
    unknown = sorted(set(payload) - {"recipients"})
    if unknown:
        raise invalid(unknown[0], "unknown field")
    if "recipients" not in payload:
        raise invalid("recipients", "is required (an empty list confirms every recipient)", MISSING)
    return check_recipients("recipients", payload["recipients"], max_recipients, allow_empty=True)


async def do_delivery_feedback(ctx: Context, project_id: str, batch_id: str, payload: object) -> int:
    """Record the confirmation; returns how many recipients were confirmed for the first time.
    A batch of another project is not found; a recipient not in the batch refuses the whole
    request, and nothing is recorded."""
    await validate_numbers_in_slices(payload, "recipients")
    recipients = check_feedback(payload, ctx.settings.max_recipients)
    async with ctx.db.write() as conn:
        row = await q.get(conn, project_id, batch_id)
        if row is None:
            raise NotFound(f"Batch {batch_id} not found")
        if not row.feedback_enabled:
            raise invalid("feedback_enabled", f"batch {batch_id} was sent without feedback_enabled: true")
        if recipients:
            known = set((await q.recipients(conn, [batch_id]))[batch_id])
            strangers = [r for r in recipients if r not in known]
            if strangers:
                raise invalid("recipients", f"not recipients of batch {batch_id}: {', '.join(strangers)}")
        routes = await q.record_feedback(conn, batch_id, recipients or None, ctx.clock())
    for route, count in Counter(routes).items():
        DELIVERY_FEEDBACK.labels(route or "none").inc(count)
    return len(routes)
