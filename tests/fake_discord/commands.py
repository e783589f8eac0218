"""Application commands: what the bot syncs (PUT/GET, global and per guild, checked as
Discord checks them), and users running them: slash commands and autocomplete become
INTERACTION_CREATE events whose options are checked against the synced schema, as the Discord
client does; so does clicking a message's button (a message component interaction)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .models import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    channel_permissions,
)
from .rest import DiscordError, RestPlumbing, form_error, json_response, parse_id, single_error
from .validation import FormErrors

_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


class CommandRoutes(RestPlumbing):
    """Command sync routes and the driver's `invoke_slash` / `invoke_autocomplete` /
    `click_button`."""

    # -- REST: application commands -----------------------------------------------------------

    def _check_app(self, request: web.Request) -> None:
        if parse_id(request.match_info["application_id"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")

    def _command_scope(self, request: web.Request) -> int | None:
        self._check_app(request)
        if "guild_id" not in request.match_info:
            return None
        guild_id = parse_id(request.match_info["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild_id

    async def _get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands.get(self._command_scope(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body, _ = await self._read_body(request)
        if not isinstance(body, list):
            raise form_error(single_error([], "BASE_TYPE_ARRAY", "Must be an array."))
        errors = FormErrors()
        _validate_commands(body, errors)
        if errors:
            raise form_error(errors)
        stored = []
        for command in body:
            kind = command.get("type", 1)
            key = (scope, command["name"], kind)
            # Discord keeps a command's id across syncs when name and type are unchanged.
            command_id = self._command_ids.setdefault(key, self.ids.next())
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **command,
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self.ids.next()),
                "type": kind,
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        self.command_syncs.append(scope)
        self.notifier.notify()
        return json_response(stored)

    # -- acting as users ----------------------------------------------------------------------

    async def invoke_slash(
        self,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: FakeChannel | None = None,
        require_synced: bool = True,
    ) -> FakeInteraction:
        """``member`` runs ``/name`` (``"group sub"`` for subcommands) in ``channel`` (default:
        the guild's first text channel). Dispatches INTERACTION_CREATE type 2.

        Option values: str, int, float, bool, FakeMember/FakeUser, FakeRole, FakeChannel,
        FakeAttachment; resolved data is filled in. With ``require_synced`` (default), the
        command must have been synced, and options are checked against its schema like the
        Discord client does (types, required, choices, ranges).
        """
        return await self._invoke(
            2, guild, member, name, options or {}, channel, require_synced, focused=None
        )

    async def invoke_autocomplete(
        self,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel: FakeChannel | None = None,
        require_synced: bool = True,
    ) -> FakeInteraction:
        """The user is typing option ``focused`` (its value in ``options`` is the typed text).
        Dispatches INTERACTION_CREATE type 4; read ``await inter.wait_for_choices()``."""
        if focused not in options:
            raise ValueError(f"focused option {focused!r} must be in options")
        return await self._invoke(
            4, guild, member, name, options, channel, require_synced, focused=focused
        )

    async def _invoke(
        self,
        type_: int,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any],
        channel: FakeChannel | None,
        require_synced: bool,
        *,
        focused: str | None,
    ) -> FakeInteraction:
        if member.guild is not guild:
            raise ValueError(f"{member!r} is not in {guild!r}")
        channel = channel or guild.default_channel
        if channel.guild is not guild:
            raise ValueError(f"{channel!r} is not in {guild!r}")
        if not self.gateway.sessions:
            raise RuntimeError("fake_discord: no bot session is connected to the gateway")
        path = name.split()
        command, is_guild_command = self._find_command(guild, path[0])
        if command is None and require_synced:
            raise LookupError(
                f"/{path[0]} is not synced for {guild!r} or globally (synced: "
                f"{ {k: [c['name'] for c in v] for k, v in self.commands.items()} }); "
                "Discord users cannot run it. Pass require_synced=False to skip this check."
            )
        resolved: dict[str, dict[str, Any]] = {}
        schema = command.get("options", []) if command is not None else None
        built = self._build_options(member, channel, path, options, schema, resolved, focused)
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self.ids.next()),
            "name": path[0],
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if is_guild_command:
            data["guild_id"] = str(guild.id)
        return await self._dispatch_interaction(type_, member, channel, data, name=name)

    async def click_button(
        self,
        message: FakeMessage,
        member: FakeMember,
        *,
        custom_id: str | None = None,
        label: str | None = None,
    ) -> FakeInteraction:
        """``member`` clicks the button of ``message`` that has ``custom_id`` (or ``label``).
        Dispatches INTERACTION_CREATE type 3 (message component) with the message, as Discord
        does; the bot's callbacks (4, 5, 6 deferred update, 7 update message) and follow-ups
        are then checked as for commands (3-second rule, one acknowledgement).

        As in the Discord client, only a button that is shown can be clicked: one of the
        message's, enabled, not a link (links open in the browser), on a message the member
        can see (an ephemeral one only by the user it was sent to)."""
        if (custom_id is None) == (label is None):
            raise ValueError("give custom_id or label (one of them)")
        if not self.gateway.sessions:
            raise RuntimeError("fake_discord: no bot session is connected to the gateway")
        if message.deleted:
            raise LookupError(f"{message!r} is deleted: there is nothing to click")
        guild = message.guild
        if member.guild is not guild:
            raise ValueError(f"{member!r} is not in {guild!r}")
        if message.ephemeral and (
            message.interaction is None or message.interaction.user is not member.user
        ):
            raise LookupError(f"{message!r} is ephemeral: only its own user sees it")
        buttons = [
            child
            for row in message.components
            for child in row.get("components", [])
            if child.get("type") == 2
        ]
        button = next(
            (
                b
                for b in buttons
                if (custom_id is not None and b.get("custom_id") == custom_id)
                or (label is not None and b.get("label") == label)
            ),
            None,
        )
        if button is None or "custom_id" not in button:
            raise LookupError(
                f"no clickable button {custom_id or label!r} on {message!r}; it has "
                f"{[(b.get('label'), b.get('custom_id')) for b in buttons]}"
            )
        if button.get("disabled"):
            raise LookupError(f"button {custom_id or label!r} is disabled")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._dispatch_interaction(
            3, member, message.channel, data, name=button["custom_id"], message=message
        )

    async def _dispatch_interaction(
        self,
        type_: int,
        member: FakeMember,
        channel: FakeChannel,
        data: dict[str, Any],
        *,
        name: str,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        guild = channel.guild
        interaction_id = self.ids.next()
        token = f"fake-interaction-{secrets.token_urlsafe(24)}"
        member_perms = channel_permissions(member, channel)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "channel_id": str(channel.id),
            "channel": {**channel.payload(), "permissions": str(member_perms)},
            "member": member.payload(permissions=member_perms),
            "token": token,
            "version": 1,
            "app_permissions": str(channel_permissions(self.bot_member(guild), channel)),
            "locale": member.user.locale,
            "guild_locale": guild.preferred_locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = message.payload(with_member=False)
        interaction = FakeInteraction(
            notifier=self.notifier,
            id=interaction_id,
            application_id=self.application_id,
            token=token,
            type=type_,
            name=name,
            member=member,
            channel=channel,
            payload=payload,
            message=message,
        )
        self.interactions[interaction_id] = interaction
        self._interactions_by_token[token] = interaction
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        await self.gateway.flush()
        return interaction

    def _find_command(self, guild: FakeGuild, name: str) -> tuple[dict[str, Any] | None, bool]:
        for scope, is_guild in ((guild.id, True), (None, False)):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, is_guild
        return None, False

    def _build_options(
        self,
        member: FakeMember,
        channel: FakeChannel,
        path: list[str],
        values: Mapping[str, Any],
        schema: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        if len(path) > 1:
            sub_spec = None
            if schema is not None:
                sub_spec = next(
                    (o for o in schema if o["name"] == path[1] and o["type"] in (1, 2)), None
                )
                if sub_spec is None:
                    raise LookupError(f"no subcommand {path[1]!r} in synced command")
            inner = self._build_options(
                member,
                channel,
                path[1:],
                values,
                sub_spec.get("options", []) if sub_spec else None,
                resolved,
                focused,
            )
            kind = sub_spec["type"] if sub_spec else (2 if len(path) > 2 else 1)
            return [{"name": path[1], "type": kind, "options": inner}]

        by_name = {o["name"]: o for o in schema} if schema is not None else None
        if by_name is not None:
            unknown = set(values) - set(by_name)
            if unknown:
                raise ValueError(f"options {sorted(unknown)} not in synced schema {list(by_name)}")
            if focused is None:
                missing = [n for n, o in by_name.items() if o.get("required") and n not in values]
                if missing:
                    raise ValueError(f"required options missing: {missing}")
        built: list[dict[str, Any]] = []
        for name, value in values.items():
            spec = by_name[name] if by_name is not None else None
            opt_type = spec["type"] if spec else _infer_option_type(value)
            if name == focused:
                # Autocomplete sends what the user has typed so far, as text.
                built.append({"name": name, "type": opt_type, "value": str(value), "focused": True})
                continue
            wire = self._option_value(member, channel, name, opt_type, value, resolved)
            if spec is not None:
                _check_option_constraints(name, spec, value)
            built.append({"name": name, "type": opt_type, "value": wire})
        return built

    def _option_value(
        self,
        member: FakeMember,
        channel: FakeChannel,
        name: str,
        opt_type: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        def wrong() -> TypeError:
            return TypeError(f"option {name!r} (type {opt_type}) cannot take {value!r}")

        if opt_type == 3:
            if not isinstance(value, str):
                raise wrong()
            return value
        if opt_type == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong()
            return value
        if opt_type == 5:
            if not isinstance(value, bool):
                raise wrong()
            return value
        if opt_type == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong()
            return value
        if opt_type in (6, 9) and isinstance(value, FakeMember | FakeUser):
            user = value.user if isinstance(value, FakeMember) else value
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if isinstance(value, FakeMember):
                perms = channel_permissions(value, channel)
                resolved.setdefault("members", {})[str(user.id)] = value.payload(
                    include_user=False, permissions=perms
                )
            return str(user.id)
        if opt_type in (8, 9) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if opt_type == 7 and isinstance(value, FakeChannel):
            perms = channel_permissions(member, value)
            data = {
                k: v
                for k, v in value.payload().items()
                if k in ("id", "name", "type", "parent_id", "thread_metadata", "guild_id")
            }
            resolved.setdefault("channels", {})[str(value.id)] = {
                **data,
                "permissions": str(perms),
            }
            return str(value.id)
        if opt_type == 11 and isinstance(value, FakeAttachment):
            resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
            return str(value.id)
        raise wrong()


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, str):
        return 3
    if isinstance(value, FakeMember | FakeUser):
        return 6
    if isinstance(value, FakeChannel):
        return 7
    if isinstance(value, FakeRole):
        return 8
    if isinstance(value, FakeAttachment):
        return 11
    raise TypeError(f"cannot infer an option type for {value!r}")


def _check_option_constraints(name: str, spec: Mapping[str, Any], value: Any) -> None:
    """What the Discord client enforces before sending an interaction."""
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of the choices {choices}")
    if isinstance(value, str):
        if spec.get("min_length") is not None and len(value) < spec["min_length"]:
            raise ValueError(f"option {name!r} shorter than min_length {spec['min_length']}")
        if spec.get("max_length") is not None and len(value) > spec["max_length"]:
            raise ValueError(f"option {name!r} longer than max_length {spec['max_length']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise ValueError(f"option {name!r} below min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise ValueError(f"option {name!r} above max_value {spec['max_value']}")
    channel_types = spec.get("channel_types")
    if isinstance(value, FakeChannel) and channel_types and value.type not in channel_types:
        raise ValueError(f"option {name!r}: channel type {value.type} not allowed")


def _validate_commands(commands: list[Any], errors: FormErrors) -> None:
    """A subset of Discord's command checks (discord.py validates most of it locally)."""
    seen: set[tuple[str, int]] = set()
    for i, command in enumerate(commands):
        name = command.get("name")
        kind = command.get("type", 1)
        if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name):
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            continue
        if kind == 1 and name != name.lower():
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if (name, kind) in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((name, kind))
        description = command.get("description", "")
        if kind == 1 and not 1 <= len(description) <= 100:
            errors.add(
                [i, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        options = command.get("options") or []
        if len(options) > 25:
            errors.add([i, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        seen_optional = False
        for j, option in enumerate(options):
            if option.get("type") in (1, 2):
                continue
            if option.get("required"):
                if seen_optional:
                    errors.add(
                        [i, "options", j, "required"],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                seen_optional = True
