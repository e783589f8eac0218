"""Answers and lists as Discord embeds, always within Discord's limits.

Stored text (quotes, titles, outlets) is escaped (markdown and mentions) before it is shown,
and a stored URL is shown only as a link that cannot carry markup (`link`); every message is
also sent with `AllowedMentions.none()`, so nothing the bot quotes can ever ping anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote, urlsplit, urlunsplit

import discord

from ingest.forgetting import Forgotten
from ingest.reports import IngestReport, Status
from retrieval.coverage import Coverage, CoverageGroup
from retrieval.models import Answer, Citation, ShortAnswer, StoredArticle
from retrieval.sentences import iter_sentence_spans
from retrieval.timeline import Timeline

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000

# The written answer's share of the description: the quotes it rests on must fit after it.
WRITTEN_LIMIT = 1000
# Sources shown as fields; the rest are counted ("and N more sources").
MAX_SOURCE_FIELDS = 10
# A timeline line shows this much of its quote (`newsbot timeline` shows it whole).
TIMELINE_QUOTE_CHARS = 300
# Room each timeline embed keeps for its footer ("2/3 · Searched ...") and for the line that
# counts the entries it leaves out.
TIMELINE_FOOTER_ROOM = 120
TIMELINE_NOTE_ROOM = 120
ANSWER_COLOUR = discord.Colour.blurple()
NO_ANSWER_COLOUR = discord.Colour.light_grey()


# @everyone, @here, <@id>, <@!id>, <@&id>: a zero-width space after "@" shows the same text
# but is no longer a mention.
_MENTION = re.compile(r"@(?=everyone|here|[!&]?\d)")


def safe(text: str) -> str:
    """Article text as Discord should show it: literally, never as markup or mentions."""
    return _MENTION.sub("@\u200b", discord.utils.escape_markdown(text))


# Host names as DNS has them (IDNA-encoded); anything else in a host is refused.
_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")
# Kept as they are in a link's path, query and fragment; everything else is percent-encoded,
# so no `<>[]()`, quote, backtick, pipe or whitespace can end the link or start markup.
_URL_SAFE = "/?#&=+,;:@%$!~"


def link(url: str | None) -> str | None:
    """A stored URL as an unpreviewed link (`<...>`) that cannot carry markup, or None when
    it is not an http(s) URL to a plain host name or address."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return None
    if ":" in host:  # an IPv6 address (urlsplit has checked it and removed its brackets)
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        return None
    netloc = host if port is None else f"{host}:{port}"
    path, query, fragment = (
        quote(p, safe=_URL_SAFE) for p in (parts.path, parts.query, parts.fragment)
    )
    return "<" + urlunsplit((parts.scheme.lower(), netloc, path, query, fragment)) + ">"


def trim(text: str, limit: int) -> str:
    """Cut at the last sentence end that fits, else at a word, and mark the cut."""
    if len(text) <= limit:
        return text
    room = limit - 1
    ends = [e for _, e in iter_sentence_spans(text) if e <= room]
    cut = ends[-1] if ends else text.rfind(" ", 0, room)
    if cut <= 0:
        cut = room
    return text[:cut].rstrip() + "…"


def listing(blocks: Sequence[str], things: str) -> str:
    """Blocks of a list, a blank line apart, as many as fit in one message, then "and N more
    <things>" for the rest."""
    text = ""
    for n, block in enumerate(blocks):
        more = f"\n\nand {len(blocks) - n} more {things}"
        if len(text) + len(block) + 2 + len(more) > CONTENT_LIMIT:
            return text + more
        text += ("\n\n" if text else "") + block
    return text


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "undated"


def _source_field(c: Citation) -> tuple[str, str]:
    name = trim(f"[{c.n}] {safe(c.title)}", FIELD_NAME_LIMIT)
    parts = [safe(c.outlet or "unknown outlet"), _date(c.published)]
    if c.author:
        parts.append(safe(c.author))
    value = " · ".join(parts)
    if linked := link(c.url):
        value += f"\n{linked}"
    if c.also_reported_by:
        value += "\nAlso reported by " + safe(", ".join(c.also_reported_by))
    return name, trim(value, FIELD_VALUE_LIMIT)


def _searched(articles: int, newest: datetime | None) -> str:
    return f"Searched {articles} articles · newest {_date(newest)}"


def _not_covered_embed(title: str, nearest: Sequence[Citation], footer: str) -> discord.Embed:
    """The honest reply when no ingested article covers what was asked: the nearest ones."""
    embed = discord.Embed(
        title=title,
        description="No ingested article covers this."
        + ("\nThe nearest articles are:" if nearest else ""),
        colour=NO_ANSWER_COLOUR,
    )
    embed.set_footer(text=footer)
    _add_sources(embed, nearest)
    return embed


def _add_sources(embed: discord.Embed, citations: Sequence[Citation]) -> None:
    """Add source fields while they fit; count the rest in a last field."""
    shown = 0
    for c in citations:
        if shown >= MAX_SOURCE_FIELDS or shown >= FIELDS_LIMIT - 1:
            break
        name, value = _source_field(c)
        # Keep room for the "more sources" field.
        if len(embed) + len(name) + len(value) > EMBED_TOTAL_LIMIT - 64:
            break
        embed.add_field(name=name, value=value, inline=False)
        shown += 1
    rest = len(citations) - shown
    if rest > 0:
        embed.add_field(name="…", value=f"and {rest} more source{'s' if rest > 1 else ''}")


def answer_embed(answer: Answer) -> discord.Embed:
    title = trim(safe(answer.question), TITLE_LIMIT)
    if not answer.answered:
        return _not_covered_embed(
            title, answer.nearest, _searched(answer.articles_searched, answer.newest_published)
        )
    # Leave room in the 6000 total for title, footer and the sources.
    budget = min(
        DESCRIPTION_LIMIT,
        EMBED_TOTAL_LIMIT - len(title) - 200 - 400 * min(len(answer.citations), 3),
    )
    blocks: list[str] = []
    used = 0

    def add(block: str) -> bool:
        nonlocal used
        if used + len(block) + 2 > budget:
            return False
        blocks.append(block)
        used += len(block) + 2
        return True

    def add_quote(i: int) -> bool:
        quote = answer.quotes[i]
        marker = f" [{quote.citation}]"
        room = budget - used - len(marker) - 4
        if room < 80:
            return False
        return add("> " + trim(safe(quote.text), room).replace("\n", "\n> ") + marker)

    def add_short(short: ShortAnswer | None) -> None:
        if short is not None:
            add(f"**{trim(safe(short.text), 200)}** [{short.citation}]")

    if answer.written is not None:
        written = answer.written
        label = f"*Written by {trim(safe(written.model), 100)}, checked against the quotes:*"
        add(label + "\n" + trim(safe(written.text), WRITTEN_LIMIT))
    if answer.parts:
        for n, part in enumerate(answer.parts, start=1):
            heading = f"__{n}. {trim(safe(part.question), 300)}__"
            if not part.answered:
                add(heading + "\nNo ingested article covers this part.")
                continue
            if not add(heading):
                break
            add_short(part.short_answer)
            for i in part.quotes:
                add_quote(i)
    else:
        add_short(answer.short_answer)
        for i in range(len(answer.quotes)):
            if not add_quote(i):
                break
    embed = discord.Embed(title=title, description="\n\n".join(blocks), colour=ANSWER_COLOUR)
    embed.set_footer(text=_searched(answer.articles_searched, answer.newest_published))
    _add_sources(embed, answer.citations)
    return embed


def timeline_embeds(timeline: Timeline, *, threads: bool) -> list[discord.Embed]:
    """The timeline as embeds within Discord's limits: its entries as lines ("date — “quote”
    [n]"), each entry's source as a field beside it. The first embed is the reply; with
    `threads` the others continue it (in a thread), else it ends by counting the entries
    it leaves out."""
    title = trim(f"Timeline: {safe(timeline.topic)}", TITLE_LIMIT)
    searched = _searched(timeline.articles_searched, timeline.newest_published)
    if not timeline.entries:
        return [_not_covered_embed(title, timeline.nearest, searched)]
    sources = {c.n: _source_field(c) for c in timeline.citations}
    items = [
        (
            f"**{entry.day}** — “{trim(safe(entry.quote.text), TIMELINE_QUOTE_CHARS)}” "
            f"[{entry.quote.citation}]",
            sources[entry.quote.citation],
        )
        for entry in timeline.entries
    ]
    pages = _timeline_pages(items, len(title) + TIMELINE_FOOTER_ROOM)
    if not threads and len(pages) > 1:
        rest = sum(len(page) for page in pages[1:])
        more = f"{rest} more entr{'ies' if rest > 1 else 'y'}"
        note = f"…and {more}: `newsbot timeline` shows the whole timeline."
        pages = [[*pages[0], (note, None)]]
    embeds = []
    for i, page in enumerate(pages, start=1):
        embed = discord.Embed(
            title=title,
            description="\n".join(line for line, _ in page),
            colour=ANSWER_COLOUR,
        )
        for _, field in page:
            if field is not None:
                embed.add_field(name=field[0], value=field[1], inline=False)
        embed.set_footer(text=f"{i}/{len(pages)} · {searched}" if len(pages) > 1 else searched)
        embeds.append(embed)
    return embeds


def _timeline_pages(
    items: Sequence[tuple[str, tuple[str, str]]], fixed: int
) -> list[list[tuple[str, tuple[str, str] | None]]]:
    """Entries (line, source field) cut into embeds: each within the description's and the
    embed's limits and the field count, with `fixed` characters (title, footer) and room
    for the note counting what is left out."""
    pages: list[list[tuple[str, tuple[str, str] | None]]] = [[]]
    description = total = 0
    for line, field in items:
        size = len(line) + 1
        field_size = len(field[0]) + len(field[1])
        if pages[-1] and (
            description + size > DESCRIPTION_LIMIT - TIMELINE_NOTE_ROOM
            or fixed + total + size + field_size > EMBED_TOTAL_LIMIT - TIMELINE_NOTE_ROOM
            or len(pages[-1]) >= FIELDS_LIMIT
        ):
            pages.append([])
            description = total = 0
        pages[-1].append((line, field))
        description += size
        total += size + field_size
    return pages


def sources_embed(
    articles: Sequence[StoredArticle], *, total: int, query: str | None
) -> discord.Embed:
    heading = f"Articles matching “{safe(query)}”" if query else "Newest ingested articles"
    embed = discord.Embed(title=trim(heading, TITLE_LIMIT), colour=ANSWER_COLOUR)
    if not articles:
        embed.description = "No ingested article matches." if query else "No articles yet."
        return embed
    lines = []
    for a in articles:
        outlet = safe(a.outlet or "unknown outlet")
        line = f"**{safe(trim(a.title, 200))}**\n{outlet} · {_date(a.published)}"
        if linked := link(a.url):
            line += f" · {linked}"
        lines.append(line)
    description = ""
    shown = 0
    for line in lines:
        if len(description) + len(line) + 2 > DESCRIPTION_LIMIT - 100:
            break
        description += ("\n\n" if description else "") + line
        shown += 1
    if total > shown:
        description += f"\n\nand {total - shown} more"
    embed.description = description
    return embed


def ingest_report_text(report: IngestReport) -> str:
    counts = (
        f"Added {report.count(Status.ADDED)}, updated {report.count(Status.UPDATED)}, "
        f"unchanged {report.count(Status.UNCHANGED)}, failed {report.count(Status.FAILED)}."
    )
    lines = [counts]
    for item in report.items:
        if item.status is Status.FAILED:
            lines.append(f"• failed: {safe(item.source)}: {safe(item.reason or 'unknown reason')}")
        elif item.copy_of:
            what = safe(item.title or item.source)
            lines.append(f"• {item.status.value}: {what} (a copy of a story already stored)")
        else:
            lines.append(f"• {item.status.value}: {safe(item.title or item.source)}")
    text = "\n".join(lines)
    if len(text) > CONTENT_LIMIT:
        text = text[: CONTENT_LIMIT - 40].rsplit("\n", 1)[0] + "\n… (more items not shown)"
    return text


def forgotten_text(forgotten: Forgotten) -> str:
    removed = forgotten.article
    text = f"Forgot “{safe(trim(removed.title, 300))}” ({removed.chunk_count} chunks)."
    if forgotten.promoted is not None:
        copy = forgotten.promoted
        text += f" Its copy from {safe(copy.outlet or copy.title)} now stands in for it."
    return text


def _nearest_line(c: Citation) -> str:
    line = (
        f"{safe(trim(c.title, 150))} ({safe(c.outlet or 'unknown outlet')}, {_date(c.published)})"
    )
    if linked := link(c.url):
        line += f" {linked}"
    return line


def _coverage_field(n: int, group: CoverageGroup) -> tuple[str, str]:
    name = trim(f"{n}. “{safe(group.questions[0])}”", FIELD_NAME_LIMIT)
    votes = group.votes
    lines = [
        f"Asked {group.count}× · declined {group.declined} · wrong quote {votes.wrong_quote}"
        f" · didn't answer {votes.didnt_answer} · helpful {votes.helpful}"
    ]
    others = [f"“{safe(trim(q, 150))}”" for q in group.questions[1:3]]
    if others:
        more = len(group.questions) - 1 - len(others)
        lines.append("Also asked: " + ", ".join(others) + (f" and {more} more" if more else ""))
    if group.nearest:
        lines.append("Nearest articles:")
        lines += [f"• {_nearest_line(c)}" for c in group.nearest[:3]]
    else:
        lines.append("No ingested article comes near it.")
    value = ""
    for line in lines:  # whole lines while they fit
        if len(value) + len(line) + 1 > FIELD_VALUE_LIMIT:
            break
        value += ("\n" if value else "") + line
    return name, value or trim(lines[0], FIELD_VALUE_LIMIT)


def coverage_embed(report: Coverage, *, days: int | None) -> discord.Embed:
    """/coverage: the groups of questions declined or marked, most asked first."""
    period = f" in the last {days} day{'s' if days != 1 else ''}" if days else ""
    embed = discord.Embed(title=f"Coverage gaps{period}", colour=NO_ANSWER_COLOUR)
    if not report.groups:
        embed.description = (
            f"No question asked here{period} was declined or marked “Wrong quote” or "
            "“Didn't answer” by members."
        )
        return embed
    embed.description = (
        f"{report.questions} question{'s' if report.questions != 1 else ''} asked here{period} "
        f"{'were' if report.questions != 1 else 'was'} declined or marked “Wrong quote” or "
        f"“Didn't answer”, in {report.total_groups} group"
        f"{'s' if report.total_groups != 1 else ''} by meaning, the most asked first. "
        "Feeds that cover them (`/feeds add`) close the gaps."
    )
    shown = 0
    for n, group in enumerate(report.groups, start=1):
        if shown >= FIELDS_LIMIT - 1:
            break
        name, value = _coverage_field(n, group)
        if len(embed) + len(name) + len(value) > EMBED_TOTAL_LIMIT - 64:
            break
        embed.add_field(name=name, value=value, inline=False)
        shown += 1
    rest = report.total_groups - shown
    if rest > 0:
        embed.add_field(name="…", value=f"and {rest} more group{'s' if rest > 1 else ''}")
    return embed


def forget_me_text(removed: Sequence[tuple[str, int]]) -> str:
    """What /forget-me deleted: (what, how many) for each kind of member data."""
    counts = ", ".join(f"{what}: {count}" for what, count in removed)
    return (
        f"Deleted everything newsbot kept about you ({counts}). The questions asked of "
        "newsbot are kept without who asked them."
    )
