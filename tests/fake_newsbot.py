"""`newsbot` with the fake embedder (tests/fake_embedder.py), for tests whose child processes
need not load the real model: run it as `python tests/fake_newsbot.py ARGS...` where the test
would run `newsbot ARGS...`. Everything but the embedder is the real CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is on sys.path, not the checkout it belongs to.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsbot import cli
from tests.fake_embedder import FakeEmbedder


def main() -> None:
    build_services = cli.build_services
    embedder = FakeEmbedder()

    def build_with_fake_embedder(settings: Any, **options: Any) -> Any:
        return build_services(settings, embedder=embedder, **options)

    cli.build_services = build_with_fake_embedder  # type: ignore[assignment]
    cli.main(prog_name="newsbot")


if __name__ == "__main__":
    main()
