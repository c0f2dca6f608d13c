"""XMS groups of recipients, on the shared `metadata` (docs/subsystems/api.md#groups).

    groups          a project's groups: name, child groups (ids, in the order given), the
                    auto_update number and keywords
    group_members   each group's own numbers (E.164), one row per number

A group's child groups' members are not copied into it: a send to the group reads them then
(`tidings/store/groups.py`, `expand`). `batches.requested_to` keeps the `to` of a batch that named
groups, as the customer sent it.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, PrimaryKeyConstraint, String, Table

from tidings.store.schema import metadata

__all__ = ["group_members", "groups"]

MAX_NAME = 20
MAX_KEYWORD = 32

groups = Table(
    "groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("name", String(MAX_NAME), nullable=True),
    Column("child_groups", JSON, nullable=False),  # a list of group ids of the same project
    # auto_update: MO to `auto_to` whose first word (and second, when set) is the add keyword
    # adds the sender; the remove keyword removes it. NULL auto_to: no auto_update.
    Column("auto_to", String(32), nullable=True),
    Column("add_first_word", String(MAX_KEYWORD), nullable=True),
    Column("add_second_word", String(MAX_KEYWORD), nullable=True),
    Column("remove_first_word", String(MAX_KEYWORD), nullable=True),
    Column("remove_second_word", String(MAX_KEYWORD), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    Index("ix_groups_project_created", "project_id", "created_ms"),
    # The groups an MO to a number may update (per MO, in the outcome writer's transaction).
    Index("ix_groups_project_auto_to", "project_id", "auto_to"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(32), ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(32), nullable=False),
    Column("added_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("group_id", "number"),
)
