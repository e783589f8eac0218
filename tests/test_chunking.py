from __future__ import annotations

from itertools import pairwise

from ingest.chunking import Chunker
from retrieval.embedding import Embedder
from retrieval.models import Article
from retrieval.sentences import iter_sentence_spans

SENTENCES = [
    f"Sentence number {i} talks about the budget of city {i} in some detail." for i in range(40)
]
ARTICLE = Article(
    title="City budgets", body=" ".join(SENTENCES[:20]) + "\n" + " ".join(SENTENCES[20:])
)


def test_chunks_are_exact_spans_that_the_model_reads_whole(embedder: Embedder) -> None:
    chunker = Chunker(embedder, chunk_tokens=60, overlap_tokens=0)
    chunks = chunker.chunk(ARTICLE)
    assert len(chunks) > 3
    for position, chunk in enumerate(chunks):
        assert chunk.text == ARTICLE.body[chunk.start : chunk.end]
        assert chunk.position == position and chunk.article_id == ARTICLE.id
        assert chunk.token_count <= 60
        # title + chunk, as embedded, fits the model without truncation
        embedded = chunker.embedding_text(ARTICLE, chunk.text)
        assert embedded == f"City budgets\n{chunk.text}"
        assert embedder.count_tokens([embedded])[0] <= embedder.max_tokens


def test_chunks_start_and_end_on_sentence_boundaries(embedder: Embedder) -> None:
    starts = {s for s, _ in iter_sentence_spans(ARTICLE.body)}
    ends = {e for _, e in iter_sentence_spans(ARTICLE.body)}
    for chunk in Chunker(embedder, chunk_tokens=60, overlap_tokens=0).chunk(ARTICLE):
        assert chunk.start in starts and chunk.end in ends


def test_without_overlap_chunks_tile_the_body(embedder: Embedder) -> None:
    chunks = Chunker(embedder, chunk_tokens=60, overlap_tokens=0).chunk(ARTICLE)
    covered = "".join(ARTICLE.body[c.start : c.end] for c in chunks)
    assert covered.replace(" ", "").replace("\n", "") == ARTICLE.body.replace(" ", "").replace(
        "\n", ""
    )


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk(embedder: Embedder) -> None:
    chunks = Chunker(embedder, chunk_tokens=60, overlap_tokens=20).chunk(ARTICLE)
    for before, after in pairwise(chunks):
        assert after.start < before.end  # they share text
        last_sentence = list(iter_sentence_spans(before.text))[-1]
        assert after.text.startswith(before.text[last_sentence[0] : last_sentence[1]])


def test_a_sentence_longer_than_the_budget_is_cut_not_truncated(embedder: Embedder) -> None:
    long_sentence = " ".join(f"word{i}" for i in range(400))
    article = Article(title="Run-on", body=long_sentence)
    chunks = Chunker(embedder, chunk_tokens=100, overlap_tokens=0).chunk(article)
    assert len(chunks) > 2
    for chunk in chunks:
        assert embedder.count_tokens([chunk.text])[0] <= 100 + 2
        assert chunk.text == article.body[chunk.start : chunk.end]
    assert chunks[0].text.startswith("word0 ") and chunks[-1].text.endswith("word399")


def test_a_long_headline_is_cut_to_its_share_so_nothing_is_truncated(embedder: Embedder) -> None:
    article = Article(title=" ".join(["headline"] * 120), body=ARTICLE.body)
    chunker = Chunker(embedder, chunk_tokens=250, overlap_tokens=0)
    # Full-size chunks would leave 4 tokens: the headline keeps its minimum of 32.
    assert chunker.headline(article) == " ".join(["headline"] * 32)
    for chunk in chunker.chunk(article):
        embedded = chunker.embedding_text(article, chunk.text)
        assert embedder.count_tokens([embedded])[0] <= embedder.max_tokens


def test_a_title_longer_than_the_model_limit_leaves_chunks_their_normal_size(
    embedder: Embedder,
) -> None:
    """A scraped "title" of 300 tokens (more than the model's 254) once left 16-token chunks."""
    body = " ".join(SENTENCES)
    article = Article(title=" ".join(["headline"] * 300), body=body)
    chunker = Chunker(embedder, chunk_tokens=200, overlap_tokens=0)
    chunks = chunker.chunk(article)

    assert chunker.budget_for(article) == 200
    assert len(chunks) < 5
    assert all(chunk.token_count > 150 for chunk in chunks[:-1])
    # The headline takes what a 200-token chunk leaves of the model's 254.
    assert chunker.headline(article) == " ".join(["headline"] * 54)
    for chunk in chunks:
        embedded = chunker.embedding_text(article, chunk.text)
        assert embedded.startswith("headline headline ")
        assert embedder.count_tokens([embedded])[0] <= embedder.max_tokens


def test_a_cut_headline_ends_on_a_whole_word(embedder: Embedder) -> None:
    title = " ".join(["Extraordinarily"] * 100)  # several tokens a word
    headline = Chunker(embedder, chunk_tokens=200, overlap_tokens=0).headline(
        Article(title=title, body="Body.")
    )
    assert title.startswith(headline + " ")
    assert set(headline.split()) == {"Extraordinarily"}
