"""What a watch posts when a new article matches its topic: one embed with the article's best
sentences for the topic, verbatim, as block quotes, and the article's citation (as /ask
cites: title, outlet, date, author, link, and the outlets of its syndicated copies); and how
/watch list shows a member's watches.

Everything here escapes stored or user text (regexes), so the cog runs it in a worker pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.render import (
    DESCRIPTION_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    link,
    listing,
    safe,
    trim,
)
from bot.watches import Watch
from retrieval.watching import WatchHit

POST_COLOUR = discord.Colour.gold()
# Each quote's share of the description: three fit with room for the heading.
QUOTE_LIMIT = 1200


def where(watch: Watch) -> str:
    return f"<#{watch.channel_id}>" if watch.channel_id is not None else "your DMs"


def hit_embed(hit: WatchHit, watch: Watch, server: str) -> discord.Embed:
    """The post for a new article about the watch's topic. `server`: the server's name, for
    a DM (which shows no server of its own)."""
    c = hit.citation
    shown = link(c.url)
    embed = discord.Embed(
        title=trim(safe(c.title), TITLE_LIMIT),
        url=shown[1:-1] if shown else None,  # the cleaned URL, without link()'s brackets
        colour=POST_COLOUR,
    )
    heading = f"New on **{safe(trim(watch.topic, 200))}**"
    if watch.channel_id is None:
        heading += f" (your watch in {safe(trim(server, 100))})"
    blocks = [heading]
    for quote in hit.quotes:
        quoted = trim(safe(quote.text), QUOTE_LIMIT).replace("\n", "\n> ")
        blocks.append(f"> {quoted} [{quote.citation}]")
    embed.description = trim("\n\n".join(blocks), DESCRIPTION_LIMIT)
    parts = [safe(c.outlet or "unknown outlet")]
    parts.append(c.published.strftime("%Y-%m-%d") if c.published else "undated")
    if c.author:
        parts.append(safe(c.author))
    value = " · ".join(parts)
    if shown:
        value += f"\n{shown}"
    if c.also_reported_by:
        value += "\nAlso reported by " + safe(", ".join(c.also_reported_by))
    embed.add_field(
        name=trim(f"[{c.n}] {safe(c.title)}", FIELD_NAME_LIMIT),
        value=trim(value, FIELD_VALUE_LIMIT),
        inline=False,
    )
    embed.set_footer(text=trim(f"Watch #{watch.id} · /watch remove stops it", FOOTER_LIMIT))
    return embed


def list_text(watches: Sequence[Watch], own_id: int) -> str:
    """A member's watches (and, for an admin, the server's channel watches), within a
    message's 2000 characters."""
    if not watches:
        return "You watch no topics here yet: add one with `/watch add topic:`."
    blocks = []
    for w in watches:
        line = f"**#{w.id}** {safe(trim(w.topic, 200))} → {where(w)}"
        if w.owner_id != own_id:
            line += f" · by <@{w.owner_id}>"
        if w.last_error:
            line += f"\nlast post not delivered: {safe(trim(w.last_error, 300))}"
        blocks.append(line)
    return listing(blocks, "watches")
