"""Tests for ingest.paths: which files a batch ingests (directories walked, links not followed)."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders import (
    SUPPORTED_SUFFIXES,
    load_file,
)
from ingest.paths import expand_paths
from tests.test_loaders import PARAGRAPHS, loaded, only

MAX = 10_000_000


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- expand_paths


def test_expand_paths_walks_directories_sorted_skipping_hidden_and_unsupported(
    tmp_path: Path,
) -> None:
    root = tmp_path / "news"
    for rel in [
        "b.txt",
        "a.json",
        "sub/c.HTML",
        "sub/deeper/d.jsonl",
        "notes.pdf",
        ".hidden.txt",
        ".git/e.txt",
        "sub/.cache/f.md",
        "z.ndjson",
    ]:
        write(root / rel, "x")
    explicit = write(tmp_path / "report.pdf", "x")
    missing = tmp_path / "missing.txt"

    got = expand_paths([root, explicit, missing, root / "b.txt"])

    assert got == [
        root / "a.json",
        root / "b.txt",
        root / "sub/c.HTML",
        root / "sub/deeper/d.jsonl",
        root / "z.ndjson",
        explicit,  # a file given by name is kept whatever its type: load_file explains
        missing,  # kept so that load_file reports it
    ]


def test_a_folders_readme_and_licence_are_not_articles(tmp_path: Path) -> None:
    root = tmp_path / "news"
    for rel in ["README.md", "sub/LICENSE.txt", "story.md", "readme-notes.md"]:
        write(root / rel, "x")
    readme = root / "README.md"
    assert expand_paths([root]) == [root / "readme-notes.md", root / "story.md"]
    assert expand_paths([readme]) == [readme]  # named explicitly: it is what the user wants


def test_supported_suffixes_are_the_documented_ones() -> None:
    assert set(SUPPORTED_SUFFIXES) == {
        ".txt",
        ".text",
        ".md",
        ".html",
        ".htm",
        ".json",
        ".jsonl",
        ".ndjson",
    }


# --------------------------------------------------------------------------- symbolic links


def test_a_folder_ingest_does_not_follow_a_link_out_of_the_folder(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.env", "DISCORD_TOKEN=abc.def.ghi\n")
    outside = write(tmp_path / "elsewhere/story.txt", "x")
    root = tmp_path / "news"
    real = write(root / "real.txt", "x")
    (root / "story.txt").symlink_to(secret)
    (root / "sub").mkdir()
    (root / "sub/other.txt").symlink_to(outside)
    (root / "linked-dir").symlink_to(outside.parent, target_is_directory=True)

    got = expand_paths([root])

    assert got == [real]
    assert [(s.source, s.reason) for s in got.skipped] == [
        (
            str(root / path),
            "skipped: a symbolic link to a file outside the folder being ingested, which a "
            "folder ingest never follows; name the file itself to ingest it",
        )
        for path in ("story.txt", "sub/other.txt")
    ]


def test_links_inside_the_folder_are_not_followed_either(tmp_path: Path) -> None:
    root = tmp_path / "news"
    real = write(root / "real.txt", "x")
    write(root / ".hidden.txt", "x")
    (root / "again.txt").symlink_to(real)  # loaded as real.txt: dropped without a word
    (root / "unhide.txt").symlink_to(root / ".hidden.txt")  # would defeat the hidden rule
    (root / "loop.txt").symlink_to(root / "loop.txt")

    got = expand_paths([root])

    assert got == [real]
    assert [(Path(s.source).name, s.reason) for s in got.skipped] == [
        (
            "loop.txt",
            "skipped: a symbolic link that does not lead to a file; name the file itself to "
            "ingest it",
        ),
        (
            "unhide.txt",
            "skipped: a symbolic link to a file the folder ingest leaves out; name the file "
            "itself to ingest it",
        ),
    ]


def test_a_link_named_on_its_own_is_followed(tmp_path: Path) -> None:
    target = write(tmp_path / "drafts/story.txt", "\n".join(PARAGRAPHS))
    link = tmp_path / "story.txt"
    link.symlink_to(target)
    assert expand_paths([link]) == [link]
    assert loaded(only(load_file(link, max_bytes=MAX))).article.body == "\n".join(PARAGRAPHS)
