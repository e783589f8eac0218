"""The vote buttons every answer carries: "Helpful", "Wrong quote", "Didn't answer".

Each button's custom id names the vote and the answer (its id in the feedback store,
retrieval/feedback.py), and the buttons are a `DynamicItem` the feedback cog registers, so
a click reaches the bot however long ago the answer was sent, restarts included: no view
is kept in memory per message. A click is acknowledged at once (ephemeral "thinking"), the
vote is stored in the answering pool, and the member alone is told what was stored.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.errors import GENERIC_FAILURE, reply_ephemeral, user_message
from retrieval.feedback import Vote

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
VOTE_LABELS = {
    Vote.HELPFUL: "Helpful",
    Vote.WRONG_QUOTE: "Wrong quote",
    Vote.DIDNT_ANSWER: "Didn't answer",
}
_VOTES = "|".join(v.value for v in Vote)
# Discord caps custom ids at 100 characters: this one is 52 at most.
CUSTOM_ID = re.compile(rf"newsbot:vote:(?P<vote>{_VOTES}):(?P<answer>r_[0-9a-f]{{24}})")


def custom_id(vote: Vote, answer_id: str) -> str:
    return f"newsbot:vote:{vote.value}:{answer_id}"


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID):
    def __init__(self, vote: Vote, answer_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=VOTE_LABELS[vote],
                style=discord.ButtonStyle.secondary,
                custom_id=custom_id(vote, answer_id),
            )
        )
        self.vote = vote
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        return cls(Vote(match["vote"]), match["answer"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = cast("NewsBot", interaction.client)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            store = bot.services.feedback
            work = partial(store.vote, self.answer_id, interaction.user.id, self.vote)
            before = await bot.workers.answering.run(work)
            await interaction.followup.send(
                vote_text(self.vote, before), ephemeral=True, allowed_mentions=NONE
            )
        except Exception as exc:  # a button's one error boundary: discord.py only logs
            shown = user_message(exc)
            if shown is None:
                log.exception("Storing a vote failed")
                shown = GENERIC_FAILURE
            try:
                await reply_ephemeral(interaction, shown)
            except discord.HTTPException:
                log.warning("Could not tell the member about a failed vote", exc_info=True)


def vote_view(answer_id: str) -> discord.ui.View:
    """The buttons of an answer (built on the event loop, as views must be)."""
    view = discord.ui.View(timeout=None)
    for vote in Vote:
        view.add_item(VoteButton(vote, answer_id))
    return view


def vote_text(vote: Vote, before: Vote | None) -> str:
    label = VOTE_LABELS[vote]
    if before is vote:
        return f"You had already voted “{label}” on this answer: it counts once."
    if before is not None:
        return f"Changed your vote on this answer from “{VOTE_LABELS[before]}” to “{label}”."
    return (
        f"Thanks: your vote “{label}” on this answer is stored. The server's admins see "
        "the questions marked “Wrong quote” or “Didn't answer” in /coverage; /forget-me "
        "deletes your votes."
    )
