"""Which articles a Discord place may see: everything ingested from the command line
(the global scope) plus what that server's admins ingested."""

from __future__ import annotations

from retrieval.models import GLOBAL_SCOPE


def guild_scope(guild_id: int) -> str:
    return f"guild:{guild_id}"


def visible_scopes(guild_id: int | None) -> tuple[str, ...]:
    if guild_id is None:
        return (GLOBAL_SCOPE,)
    return (GLOBAL_SCOPE, guild_scope(guild_id))


def home_scope(guild_id: int | None) -> str:
    """Where what is asked in a Discord place belongs: its server's scope, or the global
    scope outside servers (direct messages)."""
    return guild_scope(guild_id) if guild_id is not None else GLOBAL_SCOPE
