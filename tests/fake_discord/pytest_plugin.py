"""Pytest fixture for the fake Discord.

Enable it with ``pytest_plugins = ["tests.fake_discord.pytest_plugin"]`` in a conftest.py, then
take ``fake_discord`` as a test argument.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with discord.py's endpoints patched; stopped and restored after.

    For options (e.g. ``privileged_intents``) use ``FakeDiscord.start(...)`` directly.
    """
    async with FakeDiscord.start() as fake:
        yield fake
