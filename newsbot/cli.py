"""`newsbot`: ingest news, ask questions, search, list and forget articles, run the bot.

The `--json` outputs are a contract other programs read: change them only compatibly.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ingest.loaders import Loaded, LoadFailure, LoadItem, load_file
from ingest.paths import expand_paths
from newsbot.services import (
    Services,
    build_poller,
    build_services,
    configure_logging,
    make_fetcher,
    start_bot,
)
from newsbot.settings import Settings, load_settings
from retrieval.dates import optional_day
from retrieval.embedding import Embedder
from retrieval.errors import ConfigError, NewsbotError
from retrieval.exported_embedders import ExportedEmbedder
from retrieval.index import SearchFilters
from retrieval.models import GLOBAL_SCOPE, Answer, Article, Passage, StoredArticle
from retrieval.store_lock import BOT_PURPOSE

if TYPE_CHECKING:
    from ingest.feeds import PollResult
    from retrieval.consistency import StoreCheck

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

SAMPLE_NEWS = Path(__file__).resolve().parent.parent / "examples" / "news"


class _State:
    """What the command group hands its subcommands: settings now, services on demand.

    Commands that only read open the store read-only, so they work beside the bot; those
    that write hold the store's writer lock (retrieval/store_lock.py) until they end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        """Read-only services."""
        if self._services is None:
            self._services = build_services(self.settings, read_only=True)
        return self._services

    def writer(self, purpose: str) -> Services:
        """Services that may write, for the command `purpose` names."""
        if self._services is None:
            self._services = build_services(self.settings, purpose=purpose)
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None


# Terminal control characters (C0 but newline and tab, DEL, C1): a stored title or quote is
# text from the web and must not move the cursor, recolour or retitle the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Everything the CLI prints goes through here, made inert for the terminal."""
    click.echo(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", text), err=err, nl=nl)


def _emit(obj: object) -> None:
    """JSON keeps every character (the contract), with control characters escaped as
    \\u escapes, which json.dumps leaves raw for DEL and C1."""
    text = json.dumps(obj, ensure_ascii=False)
    click.echo(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _filters(source: tuple[str, ...], since: str | None, until: str | None) -> SearchFilters | None:
    if not source and since is None and until is None:
        return None
    return SearchFilters(
        outlets=source,
        since=optional_day(since, end_of_day=False, name="--since"),
        until=optional_day(until, end_of_day=True, name="--until"),
    )


def _read_lines(value: str) -> Iterator[str]:
    """VALUE itself, or with "-" every line of stdin: each gets its own output line (an error
    object where it fails, a blank line included), and the stream goes on."""
    if value != "-":
        yield value
        return
    for line in sys.stdin:
        yield line.rstrip("\r\n")


R = TypeVar("R")


def _per_line(value: str, key: str, run: Callable[[str], R]) -> Iterator[tuple[str, R]]:
    """`run` on VALUE or each line of stdin ("-"). With "-" a line that fails gets an error
    object (`{key: line, "error": ...}`) and the stream goes on."""
    for line in _read_lines(value):
        try:
            result = run(line)
        except NewsbotError as exc:
            if value != "-":
                raise
            _emit({key: line, "error": exc.user_message})
            continue
        yield line, result


def _date_options(func: F) -> F:
    func = click.option(
        "--until", metavar="DATE", help="Only articles published on or before DATE (YYYY-MM-DD)."
    )(func)
    return click.option(
        "--since", metavar="DATE", help="Only articles published on or after DATE (YYYY-MM-DD)."
    )(func)


def _filter_options(func: F) -> F:
    return click.option(
        "--source", multiple=True, metavar="OUTLET", help="Only articles from OUTLET (repeatable)."
    )(_date_options(func))


def _article_json(source: str, article: Article) -> dict[str, object]:
    return {
        "path": source,
        "title": article.title,
        "outlet": article.outlet,
        "author": article.author,
        "published": _iso(article.published),
        "updated": _iso(article.updated),
        "url": article.url,
        "body": article.body,
    }


def search_json(query: str, passages: Sequence[Passage]) -> dict[str, object]:
    """The `newsbot search --json` contract (bench/multihop.py writes its dumps with it)."""
    return {
        "query": query,
        "results": [
            {
                "rank": rank,
                "score": round(p.score, 6),
                "chunk_id": p.chunk_id,
                "article_id": p.article_id,
                "text": p.text,
                "title": p.title,
                "outlet": p.outlet,
                "published": _iso(p.published),
                "url": p.url,
            }
            for rank, p in enumerate(passages, start=1)
        ],
    }


def _stored_json(a: StoredArticle) -> dict[str, object]:
    return {
        "article_id": a.id,
        "title": a.title,
        "outlet": a.outlet,
        "author": a.author,
        "published": _iso(a.published),
        "updated": _iso(a.updated),
        "url": a.url,
        "category": a.category,
        "chunks": a.chunk_count,
        "copy_of": a.copy_of,
        "duplicate_of": a.copy_of,  # the same, under its first name: readers use it
    }


class _Group(click.Group):
    """Shows users' errors as one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsbotError as exc:
            _echo(f"newsbot: {exc.user_message}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Answer questions about ingested news with verified quotes and citations.

    \b
    Examples:
      newsbot ingest ../shared/data/seed/ examples/news/
      newsbot ask "what did NATO say about Russia's demands?"
      newsbot ask --json "who won the 2022 World Cup final?"
      newsbot search --json --top-k 10 "FTX trial"
      newsbot chat

    Settings come from NEWSBOT_* environment variables and .env (see .env.example).
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        _echo(f"newsbot: {exc.user_message}", err=True)
        ctx.exit(2)
    configure_logging(settings.log.level)
    ctx.obj = _State(settings)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the index already holds articles.")
@click.pass_obj
def ingest(state: _State, paths: tuple[str, ...], as_json: bool, if_empty: bool) -> None:
    """Ingest article files (.txt, .html, .json, .jsonl), directories of them, and links
    to article pages (fetched safely; see README, "URLs and feeds").

    \b
    Examples:
      newsbot ingest ../shared/data/seed/*.txt
      newsbot ingest --json ../shared/data/multihop_rag/corpus.json
      newsbot ingest https://example.org/news/story.html
    """
    services = state.writer("`newsbot ingest`")
    if if_empty and services.index.stats().articles > 0:
        if not as_json:
            _echo("The index already holds articles; nothing ingested.")
        return
    from ingest.webpages import is_url

    files = expand_paths([Path(p) for p in paths if not is_url(p)])
    urls = [p for p in paths if is_url(p)]
    # Streamed: each file is read when the pipeline reaches it, so memory does not grow
    # with the batch, and a file that cannot be read fails alone.
    items = itertools.chain(
        files.skipped,  # symbolic links a directory walk does not follow, each with its reason
        _load_each(files, state.settings.ingest.max_file_bytes),
        _load_urls(urls, state.settings),
    )
    from tqdm import tqdm

    with tqdm(
        unit="article",
        desc="Ingesting",
        disable=as_json or not sys.stderr.isatty() or len(files) + len(urls) < 2,
        file=sys.stderr,
    ) as bar:
        report = services.ingester.ingest(items, on_progress=bar.update)
    services.answerer.invalidate_stats()
    if as_json:
        _emit(report.to_json())
    else:
        _echo(
            f"Added {report.to_json()['added']}, updated {report.to_json()['updated']}, "
            f"unchanged {report.to_json()['unchanged']}, failed {report.to_json()['failed']}: "
            f"{report.chunks_embedded} chunks in {report.seconds:.1f} s "
            f"({report.chunks_per_second:.1f} chunks/s)."
        )
        for item in report.items:
            if item.reason:
                _echo(f"  failed: {item.source}: {item.reason}", err=True)
            elif item.copy_of:
                _echo(f"  copy of the stored story {item.copy_of}: {item.source}")
    if not report.ingested_anything:
        sys.exit(1)


def _load_urls(urls: list[str], settings: Settings) -> Iterator[LoadItem]:
    if not urls:
        return
    from ingest.webpages import load_url

    fetcher = make_fetcher(settings.fetch)
    for url in urls:
        yield from _one_source(url, functools.partial(load_url, url, fetcher))


def _load_each(files: list[Path], max_bytes: int) -> Iterator[LoadItem]:
    for path in files:
        load = functools.partial(load_file, path, max_bytes=max_bytes, scope=GLOBAL_SCOPE)
        yield from _one_source(str(path), load)


def _one_source(source: str, load: Callable[[], Sequence[LoadItem]]) -> Sequence[LoadItem]:
    """A source's items, or its failure: whatever goes wrong with one file or link is that
    item's reason, and the batch goes on (the loaders report their own failures; this
    catches what they did not foresee)."""
    try:
        return load()
    except NewsbotError as exc:
        return [LoadFailure(source, exc.user_message)]
    except (RecursionError, OverflowError, UnicodeError, ValueError, OSError) as exc:
        log.warning("Loading %s failed: %r", source, exc)
        return [LoadFailure(source, f"could not be read ({type(exc).__name__}: {exc})")]


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--top-k", type=click.IntRange(1, 100), help="How many passages to search.")
@_filter_options
@click.pass_obj
def ask(
    state: _State,
    question: str,
    as_json: bool,
    top_k: int | None,
    source: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> None:
    """Answer QUESTION with quotes from ingested articles.

    With "-" as QUESTION, reads one question per line from stdin and writes one JSON line
    per question.

    \b
    Examples:
      newsbot ask "what did NATO say about Russia's demands?"
      newsbot ask --json --since 2023-11-01 "what happened to FTX?"
      printf 'q1\\nq2\\n' | newsbot ask -
    """
    answerer = state.services.answerer
    filters = _filters(source, since, until)
    from newsbot.render import render_answer

    def run(line: str) -> Answer:
        return answerer.answer(line, filters=filters, top_k=top_k)

    for _, answer in _per_line(question, "question", run):
        if as_json or question == "-":
            _emit(answer.to_json())
        else:
            _echo(render_answer(answer))


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--top-k", type=click.IntRange(1, 100), default=10, show_default=True)
@_filter_options
@click.pass_obj
def search(
    state: _State,
    query: str,
    as_json: bool,
    top_k: int,
    source: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> None:
    """Show the stored chunks that best match QUERY, ranked.

    With "-" as QUERY, reads one query per line from stdin and writes one JSON line each.

    \b
    Example:
      newsbot search --json --top-k 10 "Sam Bankman-Fried trial"
    """
    answerer = state.services.answerer
    filters = _filters(source, since, until)

    def run(line: str) -> list[Passage]:
        return answerer.search(line, k=top_k, filters=filters)

    for line, passages in _per_line(query, "query", run):
        if as_json or query == "-":
            _emit(search_json(line, passages))
        else:
            for rank, p in enumerate(passages, start=1):
                _echo(f"{rank:>2}. {p.score:.3f}  {p.title} ({p.outlet or '-'})")
                _echo("    " + " ".join(p.text.split())[:200])


@main.command()
@click.argument("topic")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@_date_options
@click.pass_obj
def timeline(
    state: _State, topic: str, as_json: bool, since: str | None, until: str | None
) -> None:
    """A story's key developments in date order: for each article about TOPIC, the sentence
    that states it, quoted verbatim, with the numbered sources (at most
    NEWSBOT_TIMELINE_MAX_ENTRIES entries, the most relevant).

    \b
    Examples:
      newsbot timeline "the FTX trial"
      newsbot timeline --json --since 2023-11-01 "OpenAI board fires Sam Altman"
    """
    from newsbot.render import render_timeline

    filters = _filters((), since, until)
    found = state.services.timelines.build(topic, filters=filters)
    if as_json:
        _emit(found.to_json())
    else:
        _echo(render_timeline(found))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per article.")
@click.pass_obj
def extract(state: _State, paths: tuple[Path, ...], as_json: bool) -> None:
    """Show what ingest would store for each file, without storing anything."""
    failed = False
    files = expand_paths(list(paths))
    loaded = (load_file(path, max_bytes=state.settings.ingest.max_file_bytes) for path in files)
    for item in itertools.chain(files.skipped, itertools.chain.from_iterable(loaded)):
        if isinstance(item, LoadFailure):
            failed = True
            if as_json:
                _emit({"path": item.source, "error": item.reason})
            else:
                _echo(f"{item.source}: error: {item.reason}", err=True)
        elif as_json:
            _emit(_article_json(item.source, item.article))
        else:
            _print_article(item)
    if failed and not as_json:
        sys.exit(1)


def _print_article(item: Loaded) -> None:
    a = item.article
    _echo(f"== {item.source}")
    for label, value in (
        ("title", a.title),
        ("outlet", a.outlet),
        ("author", a.author),
        ("published", _iso(a.published)),
        ("updated", _iso(a.updated)),
        ("url", a.url),
    ):
        _echo(f"{label:>9}: {value if value is not None else '-'}")
    _echo("")
    _echo(a.body)
    _echo("")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--limit", type=click.IntRange(1), help="Show only the newest N.")
@click.pass_obj
def sources(state: _State, as_json: bool, limit: int | None) -> None:
    """List ingested articles, newest first."""
    articles = state.services.index.list_articles()
    if limit is not None:
        articles = articles[:limit]
    if as_json:
        _emit({"articles": [_stored_json(a) for a in articles]})
    else:
        from newsbot.render import render_sources

        _echo(render_sources(articles))


@main.command()
@click.argument("id_or_url")
@click.pass_obj
def forget(state: _State, id_or_url: str) -> None:
    """Remove an article (by id or URL) and all its chunks from the index."""
    from ingest.forgetting import forget_story
    from retrieval.feedback import FeedbackStore

    services = state.writer("`newsbot forget`")
    forgotten = forget_story(services.index, services.ingester, id_or_url)
    if forgotten is None:
        _echo(
            f"newsbot: no ingested article has the id or URL {id_or_url!r} "
            "(see `newsbot sources`).",
            err=True,
        )
        sys.exit(1)
    removed = forgotten.article
    FeedbackStore.in_data_dir(state.settings.storage.data_dir).drop_articles([removed.id])
    _echo(f"Forgot “{removed.title}” ({removed.chunk_count} chunks).")
    if forgotten.promoted is not None:
        copy = forgotten.promoted
        _echo(f"Its copy from {copy.outlet or copy.url or copy.title} now stands in for it.")


@main.command()
@click.option(
    "--days",
    type=click.IntRange(1),
    help="Forget what is older than this many days (default: NEWSBOT_RETENTION_DAYS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def prune(state: _State, days: int | None, as_json: bool) -> None:
    """Forget the articles published (or, undated, ingested) more than N days ago, with
    their syndicated copies, a batch of articles at a time."""
    from ingest.retention import cutoff
    from ingest.retention import prune as prune_older_than
    from retrieval.feedback import FeedbackStore

    days = days or state.settings.storage.retention_days
    if not days:
        _echo(
            "newsbot: retention is off, so there is nothing to prune: set "
            "NEWSBOT_RETENTION_DAYS=N (in .env) to keep N days of news, or run "
            "`newsbot prune --days N`.",
            err=True,
        )
        sys.exit(2)
    older_than = cutoff(days)
    services = state.writer("`newsbot prune`")

    def progress(done: int, batches: int, forgotten: int) -> None:
        _echo(f"Batch {done} of {batches}: {forgotten} articles forgotten so far.", err=True)

    report = prune_older_than(services.index, services.ingester, older_than, progress=progress)
    services.answerer.invalidate_stats()
    # The questions and votes recorded before the cut-off go too (the bot's /coverage).
    feedback = FeedbackStore.in_data_dir(state.settings.storage.data_dir)
    feedback.drop_articles(report.article_ids)
    answers = feedback.prune(older_than)
    if as_json:
        _emit({**report.to_json(), "answers": answers})
    else:
        _echo(
            f"Forgot {report.forgotten} articles older than {older_than:%Y-%m-%d %H:%M} UTC "
            f"({days} days), in {report.batches} batches, and {answers} questions asked "
            "before then, with their votes."
        )


@main.command()
@click.option("--repair", is_flag=True, help="Fix what is found (takes the store for writing).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def check(state: _State, repair: bool, as_json: bool) -> None:
    """Check that every article is whole: each chunk named by its article, every named
    chunk stored with a readable vector, every copy with a lead, the BM25 index equal to
    Chroma. Exit 0 when whole (or repaired whole), 1 when not."""
    from ingest.repair import reembed

    services = state.writer("`newsbot check --repair`") if repair else state.services
    found = services.index.check(repair=repair)
    result: dict[str, object] = {"found": found.to_json()}
    whole = found.whole
    if repair:
        redone = reembed(services.index, services.ingester, found)
        after = services.index.check()
        result |= {"repairs": redone.to_json(), "after": after.to_json()}
        whole = after.whole
    if as_json:
        _emit(result)
    else:
        _echo(_render_check(found, "Found"))
        if repair:
            _echo(
                f"Repaired: {len(found.orphan_chunks)} orphan chunks deleted, "
                f"{len(redone.articles)} articles embedded again, "
                f"{len(redone.promoted_copies)} copies made leads"
                + (f", {len(redone.failed)} could not be repaired" if redone.failed else "")
                + "."
            )
            for aid, why in redone.failed.items():
                _echo(f"  {aid}: {why}")
            _echo(_render_check(after, "Now"))
        elif not whole:
            _echo("Run `newsbot check --repair` to fix it (stop the bot first).")
    sys.exit(0 if whole else 1)


def _render_check(report: StoreCheck, label: str) -> str:
    head = (
        f"{label}: {report.articles} articles, {report.copies} copies, {report.chunks} chunks: "
        + ("whole." if report.whole else "NOT whole.")
    )
    problems = [
        (len(report.orphan_chunks), "chunks no article names (left by an interrupted write)"),
        (len(report.needs_embedding), "articles with missing or unreadable chunks"),
        (len(report.stranded_copies), "copies whose lead is gone"),
        (report.lexical_disagrees, "articles where the BM25 index disagrees with Chroma"),
    ]
    return "\n".join([head] + [f"  {n} {what}" for n, what in problems if n])


@main.group()
def feeds() -> None:
    """Follow RSS and Atom feeds: their new stories are ingested as they appear.

    The Discord bot polls followed feeds every NEWSBOT_FEED_POLL_SECONDS (a failing feed
    waits longer after each failure); `newsbot feeds poll` polls them once, e.g. from cron.

    \b
    Examples:
      newsbot feeds add https://example.org/news/rss.xml
      newsbot feeds list
      newsbot feeds remove https://example.org/news/rss.xml
    """


def _feed_server_scope(server: int | None) -> str:
    return f"guild:{server}" if server is not None else GLOBAL_SCOPE


_server_option = click.option(
    "--server", type=int, metavar="ID", help="A Discord server's feed (default: the shared ones)."
)


@feeds.command("add")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def feeds_add(state: _State, url: str, as_json: bool) -> None:
    """Follow the feed at URL and ingest its stories now."""
    result = build_poller(state.writer("`newsbot feeds add`")).add(url)
    _print_poll(result, as_json, verb="Following")


@feeds.command("remove")
@click.argument("url")
@_server_option
@click.pass_obj
def feeds_remove(state: _State, url: str, server: int | None) -> None:
    """Stop following the feed at URL (the articles it brought stay)."""
    removed = build_poller(state.services).remove(url, _feed_server_scope(server))
    if removed is None:
        _echo(f"newsbot: {url} is not followed (see `newsbot feeds list`).", err=True)
        sys.exit(1)
    _echo(f"Stopped following {removed.name}.")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_obj
def feeds_list(state: _State, as_json: bool) -> None:
    """Followed feeds with their status: last success, last error, articles ingested."""
    from ingest.feeds import FeedStore, describe

    followed = FeedStore.in_data_dir(state.settings.storage.data_dir).feeds()
    if as_json:
        _emit({"feeds": [f.to_json() for f in followed]})
        return
    if not followed:
        _echo("No feeds are followed: add one with `newsbot feeds add URL`.")
    for f in followed:
        where = "" if f.scope == GLOBAL_SCOPE else f"  [{f.scope.replace('guild:', 'server ')}]"
        _echo(f"{f.name}{where}\n  {f.url}")
        _echo("  " + describe(f).replace("\n", "\n  "))


@feeds.command("poll")
@click.option("--all", "poll_all", is_flag=True, help="Poll every feed, due or not.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per feed polled.")
@click.pass_obj
def feeds_poll(state: _State, poll_all: bool, as_json: bool) -> None:
    """Poll the feeds that are due (with --all: every feed) and ingest their new stories."""
    poller = build_poller(state.writer("`newsbot feeds poll`"))
    results = poller.poll_all() if poll_all else poller.poll_due()
    if not results and not as_json:
        _echo("No feed is due yet (use --all to poll them anyway).")
    for result in results:
        _print_poll(result, as_json, verb="Polled")


def _print_poll(result: PollResult, as_json: bool, *, verb: str) -> None:
    report = result.report
    if as_json:
        _emit({"feed": result.feed.to_json(), "error": result.error, **report.to_json()})
        return
    if result.error:
        _echo(f"{verb} {result.feed.name}: failed: {result.error}")
        return
    if result.not_modified:
        _echo(f"{verb} {result.feed.name}: unchanged since the last poll.")
        return
    counts = report.to_json()
    _echo(
        f"{verb} {result.feed.name} ({result.feed.url}): added {counts['added']}, updated "
        f"{counts['updated']}, unchanged {counts['unchanged']}, failed {counts['failed']}."
    )
    for item in report.items:
        if item.reason:
            _echo(f"  failed: {item.source}: {item.reason}", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.option("--days", type=click.IntRange(1), help="Only questions asked in the last N days.")
@click.option(
    "--server", type=int, metavar="ID", help="Only this Discord server's questions (default: all)."
)
@click.pass_obj
def coverage(state: _State, as_json: bool, days: int | None, server: int | None) -> None:
    """Questions the bot declined or that members marked "Wrong quote" or "Didn't answer"
    (the buttons under each answer in Discord), grouped by meaning, with how often each was
    asked and the articles nearest it: the news to add feeds for. Works beside the bot.

    \b
    Examples:
      newsbot coverage
      newsbot coverage --json --days 30 --server 123456789012345678
    """
    from bot.scopes import guild_scope, visible_scopes
    from newsbot.render import render_coverage
    from retrieval.coverage import coverage as coverage_report
    from retrieval.feedback import FeedbackStore

    services = state.services
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    # A server's questions, nearest among the articles it sees; else all of them.
    scopes = (guild_scope(server),) if server is not None else None
    filters = SearchFilters(scopes=visible_scopes(server) if server is not None else None)
    report = coverage_report(
        FeedbackStore.in_data_dir(state.settings.storage.data_dir),
        services.embedder,
        functools.partial(services.answerer.nearest, filters=filters),
        scopes=scopes,
        since=since,
    )
    if as_json:
        _emit(report.to_json())
    else:
        _echo(render_coverage(report))


@main.command()
@click.pass_obj
def chat(state: _State) -> None:
    """Ask questions interactively (Ctrl-D or "quit" to leave)."""
    _chat(state.services)


def _warm_up(embedder: Embedder) -> None:
    """Load the model now, saying so, and exporting it first where this machine has no
    export of it yet (once, for every data dir)."""
    if isinstance(embedder, ExportedEmbedder) and embedder.export_needed():
        _echo("Exporting the model once for this machine (about a minute)…")
    else:
        _echo("Loading the model…")
    embedder.embed_query("warm up")


def _chat(services: Services) -> None:
    from newsbot.render import render_answer

    _warm_up(services.embedder)
    stats = services.answerer.stats(None)
    _echo(f"Ask about the {stats.articles} ingested articles. Ctrl-D or 'quit' to leave.\n")
    while True:
        try:
            question = input("newsbot> ")
        except (EOFError, KeyboardInterrupt):
            _echo("")
            return
        if question.strip().lower() in {"quit", "exit", ":q"}:
            return
        if not question.strip():
            continue
        try:
            _echo(render_answer(services.answerer.answer(question)))
        except NewsbotError as exc:
            _echo(exc.user_message)
        _echo("")


@main.command()
@click.option(
    "--sample",
    type=click.Path(path_type=Path, exists=True),
    default=SAMPLE_NEWS,
    show_default=True,
    help="News to ingest when the index is empty.",
)
@click.pass_obj
def run(state: _State, sample: Path) -> None:
    """Ingest the sample news if the index is empty, then start the bot (with DISCORD_TOKEN
    set) or the terminal chat (without)."""
    bot = state.settings.discord.discord_token is not None
    services = state.services
    if services.index.stats().articles == 0:
        state.close()  # reopened for writing
        services = state.writer(BOT_PURPOSE if bot else "`newsbot run`")
        _warm_up(services.embedder)  # the export, if any, said before the ingest needs it
        _echo(f"The index is empty: ingesting the sample news in {sample}…")
        report = services.ingester.ingest(
            _load_each(expand_paths([sample]), state.settings.ingest.max_file_bytes)
        )
        services.answerer.invalidate_stats()
        _echo(f"Ingested {len(report.items)} articles ({report.chunks_embedded} chunks).")
        if not bot:
            state.close()  # the chat only reads: a CLI ingest may run beside it
            services = state.services
    if not bot:
        _echo(
            "DISCORD_TOKEN is not set, so the Discord bot is not started; opening the terminal "
            "chat instead.\nTo run the bot, create an application at "
            "https://discord.com/developers/applications, add a bot, copy its token into .env "
            "as DISCORD_TOKEN=..., and see README.md for the invite link.\n"
        )
        _chat(services)
        return
    state.close()
    start_bot(state.writer(BOT_PURPOSE), sync_global=False)


@main.command(name="bot")
@click.option(
    "--sync-global",
    is_flag=True,
    help="Register the slash commands with Discord for every server (do it once; it can "
    "take an hour to show). NEWSBOT_GUILD_ID syncs one server instantly instead.",
)
@click.pass_obj
def bot_command(state: _State, sync_global: bool) -> None:
    """Run the Discord bot (needs DISCORD_TOKEN)."""
    # Without a token the bot stops at once, saying how to get one: no need to lock the store.
    no_token = state.settings.discord.discord_token is None
    services = state.services if no_token else state.writer(BOT_PURPOSE)
    start_bot(services, sync_global=sync_global)
