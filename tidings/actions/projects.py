"""Creating projects and their credentials. Secrets are returned once and stored only as hashes
(the webhook secret is the exception: it must be known to sign webhooks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import insert

from tidings.core.ids import hex_id, secret_token
from tidings.core.secrets import hash_secret
from tidings.store import schema
from tidings.store.db import Database


@dataclass(frozen=True)
class ProjectCredentials:
    project_id: str
    key_id: str
    key_secret: str
    service_plan_id: str
    api_token: str
    webhook_secret: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


async def do_create_project(db: Database, name: str, now_ms: int) -> ProjectCredentials:
    creds = ProjectCredentials(
        project_id=hex_id(16),
        key_id=hex_id(16),
        key_secret=secret_token(24),
        service_plan_id=hex_id(16),
        api_token=hex_id(16),
        webhook_secret=secret_token(24),
    )
    async with db.write() as conn:
        await conn.execute(
            insert(schema.projects).values(
                id=creds.project_id, name=name, webhook_secret=creds.webhook_secret, created_ms=now_ms
            )
        )
        await conn.execute(
            insert(schema.access_keys).values(
                key_id=creds.key_id,
                project_id=creds.project_id,
                secret_hash=hash_secret(creds.key_secret),
                created_ms=now_ms,
            )
        )
        await conn.execute(
            insert(schema.service_plans).values(
                id=creds.service_plan_id,
                project_id=creds.project_id,
                token_hash=hash_secret(creds.api_token),
                callback_url=None,
                created_ms=now_ms,
            )
        )
    return creds
