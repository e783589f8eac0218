"""The Discord bot: the services and config the entry point built (newsbot/services.py) are
injected here, with the thread pools, cooldowns and quotas the bot builds from its config;
features are cogs loaded as extensions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import discord
from discord.ext import commands

from bot.config import BotConfig, BotServices
from bot.cooldown import UserCooldown
from bot.errors import NewsCommandTree
from bot.quotas import HourlyQuota
from bot.workers import Workers
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.library",
    "bot.cogs.feeds",
    "bot.cogs.retention",
    "bot.cogs.feedback",
    "bot.cogs.timeline",
    "bot.cogs.watch",
)


class NewsBot(commands.Bot):
    def __init__(
        self,
        services: BotServices,
        config: BotConfig,
        *,
        sync_global: bool = False,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        # Default intents hold no privileged one: Discord delivers the content of messages
        # that mention the bot without the message-content intent.
        intents = discord.Intents.default()
        intents.message_content = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=NewsCommandTree,
            help_command=None,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.services = services
        self.config = config
        self.workers = Workers(
            answer_threads=config.answer_threads,
            fetch_threads=config.fetch_threads,
            ingest_threads=config.ingest_threads,
        )
        self.cooldown = UserCooldown(config.ask_cooldown_seconds)
        self.sources_cooldown = UserCooldown(config.sources_cooldown_seconds)
        self.ingest_quota = HourlyQuota(config.ingests_per_server_per_hour, "/ingest")
        self._sync_global = sync_global

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.config.guild_id is not None:
            guild = discord.Object(id=self.config.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), self.config.guild_id)
        if self._sync_global:
            synced = await self.tree.sync()
            log.info("Synced %d commands globally (may take up to an hour to show)", len(synced))
        elif self.config.guild_id is None:
            log.info(
                "Commands not synced: set NEWSBOT_GUILD_ID for a development server, "
                "or run `newsbot bot --sync-global` once."
            )

    async def on_ready(self) -> None:
        log.info("Connected as %s in %d servers", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message, /) -> None:
        # No prefix commands: mentions are answered by the ask cog's listener.
        return

    async def close(self) -> None:
        """Take no new work, give the work in progress until the deadline
        (NEWSBOT_SHUTDOWN_GRACE_SECONDS) and abandon what is left, then disconnect."""
        if not self.workers.closed:
            self.workers.close()
            # Unloaded first, so that cogs stop their background work now: a feed poll in
            # progress ends after its current feed. Commands run meanwhile are told the bot
            # is restarting (bot/errors.py).
            for extension in tuple(self.extensions):
                try:
                    await self.unload_extension(extension)
                except Exception:
                    log.exception("Unloading %s failed", extension)
            await self.workers.finish(self.config.shutdown_grace_seconds)
        await super().close()


def warm_up(services: BotServices) -> None:
    """Load the model and open the index before connecting, so the first /ask is fast."""
    services.embedder.embed_query("warm up")
    services.answerer.stats(None)


async def serve(
    services: BotServices, config: BotConfig, token: str, *, sync_global: bool = False
) -> None:
    """Run until the bot stops, SIGTERM or Ctrl-C; then close within the shutdown deadline,
    and close the services."""
    await asyncio.to_thread(warm_up, services)
    bot = NewsBot(services, config, sync_global=sync_global)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                stopper.cancel()
                try:
                    runner.result()
                except discord.LoginFailure as exc:
                    raise ConfigError(
                        "Discord rejected DISCORD_TOKEN: copy the bot token again from the "
                        "developer portal (Bot > Reset Token)."
                    ) from exc
            else:
                log.info("Shutting down")
                await bot.close()
                await runner
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if bot.workers.running():
            # An abandoned job may still be writing: the writer lock is let go by the
            # process's exit, not now, so no other writer can start beside it.
            log.warning("Work abandoned at shutdown still runs: the store stays locked until exit")
        else:
            services.close()


def run_bot(
    services: BotServices, config: BotConfig, token: str | None, *, sync_global: bool = False
) -> None:
    if token is None or not token.strip():
        raise ConfigError(
            "DISCORD_TOKEN is not set: put the bot token in .env (see README.md, 'Discord set-up')."
        )
    asyncio.run(serve(services, config, token.strip(), sync_global=sync_global))
