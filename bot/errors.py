"""The one place where errors become Discord replies."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from retrieval.errors import NewsbotError

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on my side while handling that. It has been logged."


class NotAdminError(app_commands.CheckFailure):
    """Raised by the admin check; its message is shown to the refused user."""


def user_message(error: Exception) -> str | None:
    """The message to show for an error meant for users, or None for a bug."""
    original = getattr(error, "original", error)
    if isinstance(original, NewsbotError):
        return original.user_message
    if isinstance(error, NotAdminError):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"You're going too fast: try again in {max(1, round(error.retry_after))} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server."
    if isinstance(error, app_commands.CommandNotFound):
        # While the bot shuts down its commands are gone; also after an update removed one.
        return "That command is not available right now: try again in a minute."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    return None


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
    else:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


class NewsCommandTree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        message = user_message(error)
        if message is None:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("Command /%s failed", command, exc_info=error)
            message = GENERIC_FAILURE
        try:
            await reply_ephemeral(interaction, message)
        except discord.HTTPException:
            log.warning("Could not tell the user about an error", exc_info=True)
