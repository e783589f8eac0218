"""Which files a batch ingests: the paths given, with directories walked for the files the
loaders support (no symbolic link followed out of them). Each file is then read by
`ingest.loaders.load_file`, when the pipeline reaches it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ingest.loaders import SUPPORTED_SUFFIXES, LoadFailure

logger = logging.getLogger(__name__)


class ExpandedPaths(list[Path]):
    """The files `expand_paths` found, in order, and the entries of the walked directories it
    left out on purpose (symbolic links), each as a failure to report."""

    def __init__(self, files: Iterable[Path] = (), skipped: Iterable[LoadFailure] = ()) -> None:
        super().__init__(files)
        self.skipped = list(skipped)


def expand_paths(paths: Sequence[Path]) -> ExpandedPaths:
    """Files as given, plus the supported files found by walking directories (sorted; hidden
    names and a folder's own README/LICENSE skipped). A path that does not exist is kept, so
    that `load_file` reports it.

    A walk never follows a symbolic link: one that leads out of the named directory could
    hand over any file (`story.txt -> ~/.env`). A link to a file the walk loads anyway is
    dropped silently; any other is in `skipped`, with why. A link named as a path is followed:
    the user chose that file."""
    out = ExpandedPaths()
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found, skipped = _walk(path)
            out.skipped.extend(skipped)
        else:
            found = [path]
        for p in found:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


# A news folder's own documentation (examples/news/README.md) is not an article.
_FOLDER_DOCS = frozenset({"README", "LICENSE", "LICENCE", "CHANGELOG"})


def _walk(root: Path) -> tuple[list[Path], list[LoadFailure]]:
    """The supported files under `root`, and its symbolic links to files, refused."""
    found: list[Path] = []
    links: list[Path] = []
    # os.walk does not follow directory symlinks, so a link loop cannot hang the walk.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for name in filenames:
            if (
                not name.startswith(".")
                and Path(name).suffix.lower() in SUPPORTED_SUFFIXES
                and Path(name).stem.upper() not in _FOLDER_DOCS
            ):
                path = base / name
                (links if path.is_symlink() else found).append(path)

    def in_order(path: Path) -> tuple[str, ...]:
        return path.relative_to(root).parts

    real_root = root.resolve()
    # The walk descends real directories only, so a found file's real path is under real_root.
    walked = {real_root / p.relative_to(root) for p in found}
    skipped = []
    for link in sorted(links, key=in_order):
        reason = _link_refusal(link, real_root, walked)
        if reason is not None:
            logger.warning("%s: %s", link, reason)
            skipped.append(LoadFailure(str(link), reason))
    return sorted(found, key=in_order), skipped


def _link_refusal(link: Path, real_root: Path, walked: set[Path]) -> str | None:
    """Why the walk does not load `link`'s target through it; None when the walk loads that
    file under its own name anyway."""
    retry = "name the file itself to ingest it"
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a link loop (Python < 3.13)
        return f"skipped: a symbolic link that does not lead to a file; {retry}"
    if target in walked:
        return None
    if not target.is_relative_to(real_root):
        return (
            "skipped: a symbolic link to a file outside the folder being ingested, which a "
            f"folder ingest never follows; {retry}"
        )
    return f"skipped: a symbolic link to a file the folder ingest leaves out; {retry}"
