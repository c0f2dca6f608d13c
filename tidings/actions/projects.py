"""Creating projects and their credentials. Secrets are returned once and stored only as hashes
(the webhook secret is the exception: it must be known to sign webhooks; the verification
application's secret is needed to check signatures and is stored wrapped with a server key).
The service plan's SMPP account (system_id and password for binding as an ESME) is created too."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import insert

from tidings.actions import verify_apps
from tidings.core.ids import hex_id, secret_token
from tidings.core.secrets import hash_secret
from tidings.gateway import credentials as smpp_credentials
from tidings.store import schema
from tidings.store.db import Database
from tidings.store.gateway_schema import smpp_accounts


@dataclass(frozen=True)
class ProjectCredentials:
    project_id: str
    key_id: str
    key_secret: str
    service_plan_id: str
    api_token: str
    webhook_secret: str
    application_key: str
    application_secret: str
    smpp_system_id: str
    smpp_password: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


async def do_create_project(db: Database, name: str, now_ms: int) -> ProjectCredentials:
    app = verify_apps.new_app()
    wrap_key = await verify_apps.wrap_key(db, now_ms)
    smpp = smpp_credentials.new_credentials()
    creds = ProjectCredentials(
        project_id=hex_id(16),
        key_id=hex_id(16),
        key_secret=secret_token(24),
        service_plan_id=hex_id(16),
        api_token=hex_id(16),
        webhook_secret=secret_token(24),
        application_key=app.key,
        application_secret=app.secret,
        smpp_system_id=smpp.system_id,
        smpp_password=smpp.password,
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
        await conn.execute(insert(smpp_accounts).values(
            smpp_credentials.account_row(smpp, creds.project_id, creds.service_plan_id, now_ms)))
        await verify_apps.insert_app(conn, verify_apps.app_row(wrap_key, creds.project_id, app, now_ms))
    return creds
