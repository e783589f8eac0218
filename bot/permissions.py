"""Who may run admin commands: Manage Server (also the default permission that hides the
commands from others), or a role/user named in settings. Checked again at run time."""

from __future__ import annotations

import discord

from bot.errors import NotAdminError


def is_admin(
    user: discord.User | discord.Member,
    *,
    admin_role_ids: tuple[int, ...],
    owner_ids: tuple[int, ...],
) -> bool:
    if user.id in owner_ids:
        return True
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_guild:
        return True
    return any(role.id in admin_role_ids for role in user.roles)


def require_admin(
    interaction: discord.Interaction, *, admin_role_ids: tuple[int, ...], owner_ids: tuple[int, ...]
) -> None:
    if not is_admin(interaction.user, admin_role_ids=admin_role_ids, owner_ids=owner_ids):
        raise NotAdminError(
            "Only this server's admins (Manage Server permission) can do that. Nothing was changed."
        )
