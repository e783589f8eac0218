"""A client for an OpenAI-compatible `/v1/chat/completions` endpoint (Ollama, llama.cpp's
server, vLLM), for written answers (retrieval/written.py).

The endpoint is one the owner configured, often on this machine, so it is reached with its
own httpx client, not the SSRF-guarded fetcher. One deadline covers the whole request:
connect, headers and body. httpx's timeouts are per step, so the request runs in a worker
thread that the caller stops waiting for at the deadline, and the body is read in pieces
with the total time and size checked after each (an endless stream ends there too).

At most `max_concurrent` requests run at once, counted until their threads end (a request
the caller stopped waiting for still holds its place until httpx's own timeout ends it).
A question asked while all are taken gets no written answer, at once, rather than waiting:
the bot's answering threads are more than this, so a slow model never holds all of them
and the quotes of other questions never wait behind it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from retrieval.errors import WriterError

# A reply of a few hundred tokens is a few kB; anything far larger is not one.
MAX_REPLY_BYTES = 64_000


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" or "user"
    content: str


class ChatClient:
    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: SecretStr | None,
        timeout: float,
        max_tokens: int,
        max_concurrent: int = 1,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key  # a SecretStr until the header is built: never in a repr
        self._timeout = timeout
        self._max_tokens = max_tokens
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def complete(self, messages: list[ChatMessage]) -> str:
        """The model's reply to `messages`, within the timeout; WriterError otherwise, and at
        once when `max_concurrent` requests are running."""
        if not self._slots.acquire(blocking=False):
            raise WriterError(f"the model is busy: {self.max_concurrent} call(s) already running")
        outcome: list[str | WriterError] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(self._request(messages, time.monotonic() + self._timeout))
            except WriterError as exc:
                outcome.append(exc)
            except Exception as exc:  # a bad URL (httpx.InvalidURL) fails no answer either
                outcome.append(WriterError(f"the model's endpoint failed: {type(exc).__name__}"))
            finally:
                self._slots.release()
                done.set()

        try:
            threading.Thread(target=work, name="llm-request", daemon=True).start()
        except BaseException:
            self._slots.release()
            raise
        if not done.wait(self._timeout):
            raise WriterError(f"the model did not answer within {self._timeout:g} s")
        result = outcome[0]
        if isinstance(result, WriterError):
            raise result
        return result

    def _request(self, messages: list[ChatMessage], deadline: float) -> str:
        payload = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": self._max_tokens,
            "temperature": 0,
            "stream": False,
        }
        key = self._api_key.get_secret_value() if self._api_key is not None else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = bytearray()
        try:
            with (
                httpx.Client(timeout=self._timeout, trust_env=False) as client,
                client.stream("POST", self._url, json=payload, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise WriterError(f"the model's endpoint answered HTTP {response.status_code}")
                for piece in response.iter_bytes():
                    body += piece
                    if time.monotonic() > deadline:
                        raise WriterError("the model's reply did not end within the timeout")
                    if len(body) > MAX_REPLY_BYTES:
                        raise WriterError("the model's reply was too large")
        except httpx.HTTPError as exc:
            raise WriterError(f"the model's endpoint failed: {type(exc).__name__}") from exc
        return _reply_text(bytes(body))


def _reply_text(body: bytes) -> str:
    """choices[0].message.content of a completion, or WriterError."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise WriterError("the model's endpoint sent malformed JSON") from exc
    if not isinstance(content, str):
        raise WriterError("the model's reply had no text")
    return content
