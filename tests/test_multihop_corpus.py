"""The whole MultiHop-RAG corpus next to the seed: the seed is still found, unrelated questions
are still refused, and ingesting the corpus again embeds and adds nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from ingest.loaders import load_file
from ingest.reports import IngestReport, Status
from newsbot.services import Services, build_services
from newsbot.settings import load_settings
from tests.conftest import MULTIHOP_CORPUS, SEED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SEED.exists() and MULTIHOP_CORPUS.exists()), reason="needs ../shared/data"
    ),
]

SEED_TITLE = (
    "NATO About to Give Written Response to Russia's Security Guarantees Proposals, Report Claims"
)


@dataclass
class Corpus:
    services: Services
    first: IngestReport
    second: IngestReport
    first_seconds: float
    second_seconds: float
    embedded_on_second: int


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    # The default backend (openvino-int8), as `newsbot ingest` runs it.
    with pytest.MonkeyPatch.context() as mp:
        services = build_services(load_settings(data_dir=tmp_path_factory.mktemp("multihop")))
        services.ingester.ingest(load_file(SEED, max_bytes=10**7))
        started = time.perf_counter()
        first = services.ingester.ingest(load_file(MULTIHOP_CORPUS, max_bytes=10**8))
        first_seconds = time.perf_counter() - started
        embedded: list[int] = []
        original = services.embedder.embed_documents

        def counting(texts: list[str]) -> object:
            embedded.append(len(texts))
            return original(texts)

        mp.setattr(services.embedder, "embed_documents", counting)
        started = time.perf_counter()
        second = services.ingester.ingest(load_file(MULTIHOP_CORPUS, max_bytes=10**8))
        second_seconds = time.perf_counter() - started
    print(  # shown with -s: the numbers behind the closing note
        f"\nMultiHop corpus: first ingest {first_seconds:.1f} s "
        f"({first.chunks_embedded} chunks), second {second_seconds:.2f} s"
    )
    return Corpus(services, first, second, first_seconds, second_seconds, sum(embedded))


def test_the_whole_corpus_is_ingested(corpus: Corpus) -> None:
    assert corpus.first.count(Status.ADDED) == 609
    assert corpus.first.count(Status.FAILED) == 0
    assert corpus.services.index.stats().articles == 610


def test_ingesting_the_corpus_again_embeds_and_adds_nothing(corpus: Corpus) -> None:
    assert corpus.second.count(Status.UNCHANGED) == 609
    assert corpus.embedded_on_second == 0
    assert corpus.second.chunks_embedded == 0
    index = corpus.services.index
    seed = next(a for a in index.list_articles() if a.title == SEED_TITLE)
    assert index.count_chunks() == corpus.first.chunks_embedded + seed.chunk_count


def test_the_seed_question_is_still_answered_from_the_seed(corpus: Corpus) -> None:
    answer = corpus.services.answerer.answer("what did NATO say about Russia's demands?")
    assert answer.answered
    assert any('Russia\'s key demands are "unacceptable."' in q.text for q in answer.quotes)
    assert answer.citations[0].title == SEED_TITLE
    assert answer.citations[0].outlet == "Sputnik"


def test_a_question_no_article_covers_is_not_answered(corpus: Corpus) -> None:
    answer = corpus.services.answerer.answer("who won the 2022 World Cup final?")
    assert not answer.answered
    assert answer.quotes == ()
    assert len(answer.nearest) >= 1
