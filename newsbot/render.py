"""Plain-text rendering of answers and article lists for the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime

from retrieval.coverage import Coverage
from retrieval.models import Answer, Citation, StoredArticle
from retrieval.timeline import Timeline

_WIDTH = 88


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "undated"


def citation_line(c: Citation) -> str:
    parts = [c.outlet or "unknown outlet", _date(c.published)]
    if c.author:
        parts.append(c.author)
    line = f"[{c.n}] {c.title} ({', '.join(parts)})"
    if c.url:
        line += f"\n    {c.url}"
    if c.also_reported_by:
        line += f"\n    also reported by {', '.join(c.also_reported_by)}"
    return line


def _quote_lines(answer: Answer, indexes: Sequence[int]) -> list[str]:
    lines: list[str] = []
    for i in indexes:
        quote = answer.quotes[i]
        wrapped = textwrap.fill(
            f"“{quote.text}” [{quote.citation}]",
            width=_WIDTH,
            initial_indent="  ",
            subsequent_indent="  ",
        )
        lines.extend([wrapped, ""])
    return lines


def render_answer(answer: Answer) -> str:
    lines: list[str] = []
    if answer.written is not None:
        written = answer.written
        lines.append(f"Written by {written.model}, checked against the quotes below:")
        lines.extend(
            [
                textwrap.fill(
                    written.text, width=_WIDTH, initial_indent="  ", subsequent_indent="  "
                ),
                "",
            ]
        )
    if answer.answered:
        if answer.parts:
            for n, part in enumerate(answer.parts, start=1):
                lines.append(f"{n}. {part.question}")
                if not part.answered:
                    lines.extend(["  No ingested article covers this part.", ""])
                    continue
                if part.short_answer is not None:
                    short = part.short_answer
                    lines.append(f"  Answer: {short.text} [{short.citation}]")
                lines.extend(_quote_lines(answer, part.quotes))
        else:
            if answer.short_answer is not None:
                short = answer.short_answer
                lines.extend([f"Answer: {short.text} [{short.citation}]", ""])
            lines.extend(_quote_lines(answer, range(len(answer.quotes))))
        lines.append("Sources:")
        lines.extend(citation_line(c) for c in answer.citations)
    else:
        lines.extend(_not_covered(answer.nearest))
    lines.extend(["", _searched(answer.articles_searched, answer.newest_published)])
    return "\n".join(lines)


def _not_covered(nearest: Sequence[Citation]) -> list[str]:
    lines = ["No ingested article covers this."]
    if nearest:
        lines.append("Nearest articles:")
        lines.extend(citation_line(c) for c in nearest)
    return lines


def _searched(articles: int, newest: datetime | None) -> str:
    return f"Searched {articles} articles (newest {_date(newest)})."


def render_timeline(timeline: Timeline) -> str:
    lines = [f"Timeline: {timeline.topic}", ""]
    if timeline.entries:
        for entry in timeline.entries:
            quote = entry.quote
            lines.append(
                textwrap.fill(
                    f"{entry.day}  “{quote.text}” [{quote.citation}]",
                    width=_WIDTH,
                    subsequent_indent=" " * 12,
                )
            )
        lines.extend(["", "Sources:"])
        lines.extend(citation_line(c) for c in timeline.citations)
    else:
        lines.extend(_not_covered(timeline.nearest))
    lines.extend(["", _searched(timeline.articles_searched, timeline.newest_published)])
    return "\n".join(lines)


def render_sources(articles: Sequence[StoredArticle]) -> str:
    if not articles:
        return "No articles are ingested yet: run `newsbot ingest PATH`."
    rows = []
    for a in articles:
        row = f"{_date(a.published)}  {a.outlet or '-'}  {a.title}  [{a.id}]"
        if a.copy_of:
            row += f"  (copy of {a.copy_of})"
        if a.url:
            row += f"\n            {a.url}"
        rows.append(row)
    return "\n".join(rows)


def render_coverage(report: Coverage) -> str:
    """`newsbot coverage`: the groups of questions declined or marked, most asked first."""
    if not report.groups:
        return "No question was declined or marked “Wrong quote” or “Didn't answer”."
    lines = [
        f"{report.questions} questions declined or marked “Wrong quote” or “Didn't answer”, "
        f"in {report.total_groups} groups by meaning, the most asked first:",
        "",
    ]
    for n, group in enumerate(report.groups, start=1):
        votes = group.votes
        lines.append(f"{n}. “{group.questions[0]}”")
        lines.append(
            f"   asked {group.count}×, declined {group.declined}; votes: helpful "
            f"{votes.helpful}, wrong quote {votes.wrong_quote}, didn't answer "
            f"{votes.didnt_answer}; last asked {group.last_asked:%Y-%m-%d %H:%M} UTC"
        )
        lines.extend(f"   also asked: “{q}”" for q in group.questions[1:])
        if group.nearest:
            lines.append("   nearest articles:")
            lines.extend(textwrap.indent(citation_line(c), "   ") for c in group.nearest)
        else:
            lines.append("   no ingested article comes near it")
        lines.append("")
    return "\n".join(lines).rstrip()
