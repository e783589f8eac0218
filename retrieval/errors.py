"""One error hierarchy for the whole product.

Every error meant for a user carries `user_message`, a sentence fit to show as it is
(in a terminal or a Discord reply). Anything that is not a `NewsbotError` is a bug.
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of all errors whose message can be shown to a user."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(NewsbotError):
    """A setting is missing or invalid."""


class InputError(NewsbotError):
    """One input (file, text, question) cannot be used; says which and why."""


class QuestionError(InputError):
    """The question itself is unusable (empty, too long)."""


class StoreError(NewsbotError):
    """The index cannot be read or written."""


class NotFoundError(NewsbotError):
    """A named article is not in the index."""


class WriterError(NewsbotError):
    """The answer-writing model's endpoint failed, was too slow or sent no usable reply;
    the answer is then the quotes alone."""
