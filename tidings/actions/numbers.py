"""The numbers a project receives on: an MO to an assigned number goes to its project and
service plan (its inbounds, its callback URL, its groups' auto_update and SMPP customers) even
before the project has sent from it — without one, an MO goes to whoever last sent from the
number, or is stored unrouted (`tidings.store.inbound.route`).

A number is an E.164 long number (`+` and digits) or a short code (3 to 8 digits); it belongs to
one service plan at a time. Moving it to another project's plan must be asked for (`move`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from tidings.actions.batch_checks import check_msisdn
from tidings.core.errors import NotFound, RequestError
from tidings.store.db import Database
from tidings.store.schema import numbers, service_plans

__all__ = ["AssignedNumber", "NumberTaken", "check_number", "do_assign_number", "do_release_number", "list_numbers"]

SHORT_CODE_DIGITS = (3, 8)


@dataclass(frozen=True)
class AssignedNumber:
    number: str
    project_id: str
    service_plan_id: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"number": self.number, "project_id": self.project_id, "service_plan_id": self.service_plan_id}


class NumberTaken(RequestError):
    def __init__(self, number: str, project_id: str) -> None:
        super().__init__("number_taken", f"{number} belongs to project {project_id}; move it explicitly", 409)


def check_number(raw: str) -> str:
    """A short code as its digits; anything else as an E.164 number (`check_msisdn`)."""
    text = raw.strip()
    low, high = SHORT_CODE_DIGITS
    if text.isdigit() and low <= len(text) <= high:
        return text
    return check_msisdn("number", text)


async def do_assign_number(db: Database, number: str, service_plan_id: str, *, move: bool = False) -> AssignedNumber:
    """Assign `number` to the service plan (and its project). Assigning it to the plan it has is a
    no-op; to another plan of the same project, a change; to another project's plan, refused
    unless `move`."""
    number = check_number(number)
    async with db.write() as conn:
        plan = (await conn.execute(select(service_plans.c.project_id)
                                   .where(service_plans.c.id == service_plan_id))).scalar()
        if plan is None:
            raise NotFound(f"Service plan {service_plan_id} not found")
        current = (await conn.execute(select(numbers.c.project_id).where(numbers.c.number == number))).scalar()
        if current is None:
            await conn.execute(insert(numbers).values(number=number, project_id=plan,
                                                      service_plan_id=service_plan_id))
        elif current != plan and not move:
            raise NumberTaken(number, current)
        else:
            await conn.execute(update(numbers).where(numbers.c.number == number)
                               .values(project_id=plan, service_plan_id=service_plan_id))
    return AssignedNumber(number, plan, service_plan_id)


async def do_release_number(db: Database, number: str) -> bool:
    """Take the number from whichever project has it; False when none had."""
    number = check_number(number)
    async with db.write() as conn:
        result = await conn.execute(delete(numbers).where(numbers.c.number == number))
    return bool(result.rowcount)


async def list_numbers(db: Database, project_id: str | None = None) -> list[AssignedNumber]:
    """The assigned numbers (of one project, when given), in number order."""
    query = select(numbers.c.number, numbers.c.project_id, numbers.c.service_plan_id).order_by(numbers.c.number)
    if project_id is not None:
        query = query.where(numbers.c.project_id == project_id)
    async with db.read() as conn:
        return [AssignedNumber(r[0], r[1], r[2]) for r in await conn.execute(query)]
