"""Interaction responses: the callback (with the 3-second rule, one acknowledgement, and the
response types each interaction type allows: a component's may also update the message it
is on) and the interaction webhook (follow-ups, the original response and its edits, token
expiry). Each refused call is recorded on the interaction as a `Rejection`, as a user would
see the failure."""

from __future__ import annotations

from typing import Any, NoReturn

from aiohttp import web

from .messages import SENDABLE_FLAGS, MessageRoutes
from .models import (
    EPHEMERAL,
    LOADING,
    CallbackAttempt,
    FakeInteraction,
    FakeMessage,
    Rejection,
)
from .rest import (
    API_PREFIX,
    DiscordError,
    UploadedFile,
    form_error,
    json_response,
    no_content,
    parse_id,
    single_error,
)
from .validation import (
    FormErrors,
    validate_choices,
)

# Interaction type -> the callback types Discord accepts for it: a command (2) gets a message
# (4), a defer (5) or a modal (9); a message component (3) also a deferred update of its
# message (6) or an update of it (7); autocomplete (4) its choices (8).
_ALLOWED_CALLBACKS = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,)}


class InteractionRoutes(MessageRoutes):
    """POST /interactions/.../callback and /webhooks/{application_id}/{token}/..."""

    def _interaction_for_webhook(self, request: web.Request) -> FakeInteraction:
        inter = self._interactions_by_token.get(request.match_info["token"])
        if inter is None or parse_id(request.match_info["application_id"]) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if inter.age() > self.interaction_token_ttl:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not inter.acknowledged:
            # Follow-ups and edits only exist once the interaction has been responded to.
            self._reject(inter, request, DiscordError(404, 10015, "Unknown Webhook"))
        return inter

    def _reject(
        self, inter: FakeInteraction, request: web.Request, error: DiscordError
    ) -> NoReturn:
        inter.rejections.append(
            Rejection(
                request.method,
                request.path.removeprefix(API_PREFIX),
                error.status,
                error.code,
                error.message,
                inter.age(),
            )
        )
        self.notifier.notify()
        raise error

    async def _post_callback(self, request: web.Request) -> web.StreamResponse:
        inter = self.interactions.get(parse_id(request.match_info["interaction_id"]))
        if inter is None or inter.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        body, files = await self._read_body(request)
        elapsed = inter.age()
        response_type = body.get("type") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        attempt = CallbackAttempt(type=response_type or 0, data=data, elapsed=elapsed, status=0)
        inter.callbacks.append(attempt)
        try:
            result = self._handle_callback(inter, request, response_type, data or {}, files)
        except DiscordError as exc:
            attempt.status = exc.status
            raise
        attempt.status = 200
        inter.response_type = response_type
        inter.acknowledged_at = elapsed
        self.notifier.notify()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        return json_response(result)

    def _handle_callback(
        self,
        inter: FakeInteraction,
        request: web.Request,
        response_type: Any,
        data: dict[str, Any],
        files: list[UploadedFile],
    ) -> dict[str, Any]:
        if inter.acknowledged:
            self._reject(
                inter,
                request,
                DiscordError(400, 40060, "Interaction has already been acknowledged."),
            )
        if inter.age() > self.interaction_timeout:
            self._reject(inter, request, DiscordError(404, 10062, "Unknown interaction"))
        if response_type not in _ALLOWED_CALLBACKS.get(inter.type, ()):
            self._reject(
                inter,
                request,
                form_error(
                    single_error(
                        ["type"],
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Invalid response type {response_type} for interaction type {inter.type}",
                    )
                ),
            )
        message: FakeMessage | None = None
        if response_type == 4:
            try:
                self._validate(data, ["data"])
                message = self._create_message(
                    channel=inter.channel,
                    source="interaction_response",
                    payload=data,
                    files=files,
                    flags=(data.get("flags") or 0) & (EPHEMERAL | SENDABLE_FLAGS),
                    interaction=inter,
                    type_=20,
                )
            except DiscordError as exc:
                self._reject(inter, request, exc)
            inter.original = message
        elif response_type == 5:
            flags = LOADING | ((data.get("flags") or 0) & EPHEMERAL)
            message = self._create_message(
                channel=inter.channel,
                source="interaction_response",
                payload={},
                files=[],
                flags=flags,
                interaction=inter,
                type_=20,
            )
            inter.original = message
        elif response_type in (6, 7):
            # The response is the clicked message itself: a deferred update leaves it as it is
            # (its later @original edits change it), an update edits it now.
            clicked = inter.message
            assert clicked is not None  # only components may answer 6 or 7
            if response_type == 7:
                try:
                    self._validate(data, ["data"])
                    self._edit_message(clicked, data, files)
                except DiscordError as exc:
                    self._reject(inter, request, exc)
                message = clicked
            inter.original = clicked
        elif response_type == 8:
            errors = FormErrors()
            validate_choices(data.get("choices"), errors)
            if errors:
                self._reject(inter, request, form_error(errors))
            inter.choices = list(data["choices"])
        elif response_type == 9:
            inter.modal = data
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": response_type == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
            "resource": {"type": response_type},
        }
        if message is not None:
            result["resource"]["message"] = message.payload(with_member=False)
        return result

    async def _post_followup(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        payload, files = await self._read_body(request)
        try:
            self._validate(payload)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        original = inter.original
        try:
            if inter.deferred and original is not None and original.loading:
                # As on Discord, the first follow-up after a defer replaces the "thinking"
                # message, keeping the defer's ephemerality.
                extra = (payload.get("flags") or 0) & SENDABLE_FLAGS
                keep = original.flags & EPHEMERAL
                msg = self._edit_message(
                    original, payload, files, kind="followup", flags=keep | extra
                )
            else:
                msg = self._create_message(
                    channel=inter.channel,
                    source="followup",
                    payload=payload,
                    files=files,
                    flags=(payload.get("flags") or 0) & (EPHEMERAL | SENDABLE_FLAGS),
                    interaction=inter,
                )
                inter.followups.append(msg)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        self.notifier.notify()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(msg.payload(with_member=False))
        return no_content()

    def _webhook_message(self, request: web.Request, inter: FakeInteraction) -> FakeMessage:
        message_id = request.match_info["message_id"]
        if message_id == "@original":
            msg = inter.original
        else:
            msg = next((m for m in inter.messages if str(m.id) == message_id), None)
        if msg is None or msg.deleted:
            self._reject(inter, request, DiscordError(404, 10008, "Unknown Message"))
        return msg

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        return json_response(self._webhook_message(request, inter).payload(with_member=False))

    async def _patch_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        msg = self._webhook_message(request, inter)
        payload, files = await self._read_body(request)
        try:
            self._validate(payload)
            self._edit_message(msg, payload, files)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        return json_response(msg.payload(with_member=False))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        self._delete(self._webhook_message(request, inter))
        return no_content()
