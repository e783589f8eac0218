"""Discord-like validation of message payloads, and mention ("ping") computation.

Limits and error shapes follow what Discord answers for ``Invalid Form Body`` (code 50035), so
a bot sees the same ``discord.HTTPException`` text it would see in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBEDS_TOTAL_MAX = 6000
AUTOCOMPLETE_CHOICES_MAX = 25
ALLOWED_MENTIONS_IDS_MAX = 100
ACTION_ROWS_MAX = 5
ROW_WIDTH_MAX = 5  # a button takes 1, a select menu the whole row
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
BUTTON_STYLES = (1, 2, 3, 4, 5, 6)  # primary, secondary, success, danger, link, premium
LINK_STYLE = 5
PREMIUM_STYLE = 6
ACTION_ROW = 1
BUTTON = 2
SELECT_MENUS = (3, 5, 6, 7, 8)

USER_MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")

EVERYONE = "@everyone"
HERE = "@here"

Path = Sequence[str | int]


class FormErrors:
    """Accumulates errors in Discord's nested shape: ``{"embeds": {"0": {"_errors": [..]}}}``."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def flat(self) -> list[str]:
        """``path: message`` lines, for readable assertion messages."""
        out: list[str] = []

        def walk(node: Mapping[str, Any], prefix: str) -> None:
            for key, value in node.items():
                if key == "_errors":
                    out.extend(f"{prefix}: {e['message']}" for e in value)
                else:
                    walk(value, f"{prefix}.{key}" if prefix else key)

        walk(self.tree, "")
        return out


def _max_len(errors: FormErrors, path: Path, value: object, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _check_url(errors: FormErrors, path: Path, value: object, *, allow_attachment: bool) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        return
    schemes = ("http", "https", "attachment") if allow_attachment else ("http", "https")
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        errors.add(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{parts.scheme}" is not supported. Scheme must be one of {schemes}.',
        )
    elif not parts.netloc:
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def _text_len(value: object) -> int:
    return len(value) if isinstance(value, str) else 0


def _validate_embed(embed: Mapping[str, Any], errors: FormErrors, path: list[str | int]) -> int:
    """Validates one embed and returns its size as Discord counts it for the 6000 total."""
    size = 0
    title = embed.get("title")
    _max_len(errors, [*path, "title"], title, EMBED_TITLE_MAX)
    size += _text_len(title)
    description = embed.get("description")
    _max_len(errors, [*path, "description"], description, EMBED_DESCRIPTION_MAX)
    size += _text_len(description)
    _check_url(errors, [*path, "url"], embed.get("url"), allow_attachment=False)

    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        errors.add(
            [*path, "fields"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {EMBED_FIELDS_MAX} or fewer in length.",
        )
    for i, field in enumerate(fields):
        for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
            value = field.get(key)
            if not isinstance(value, str) or not value:
                # Discord rejects empty field names/values, a classic bug with empty snippets.
                errors.add(
                    [*path, "fields", i, key], "BASE_TYPE_REQUIRED", "This field is required"
                )
            _max_len(errors, [*path, "fields", i, key], value, limit)
            size += _text_len(value)

    footer = embed.get("footer")
    if isinstance(footer, Mapping):
        _max_len(errors, [*path, "footer", "text"], footer.get("text"), EMBED_FOOTER_MAX)
        size += _text_len(footer.get("text"))
        _check_url(
            errors, [*path, "footer", "icon_url"], footer.get("icon_url"), allow_attachment=True
        )
    author = embed.get("author")
    if isinstance(author, Mapping):
        _max_len(errors, [*path, "author", "name"], author.get("name"), EMBED_AUTHOR_MAX)
        size += _text_len(author.get("name"))
        _check_url(errors, [*path, "author", "url"], author.get("url"), allow_attachment=False)
        _check_url(
            errors, [*path, "author", "icon_url"], author.get("icon_url"), allow_attachment=True
        )
    for key in ("image", "thumbnail"):
        media = embed.get(key)
        if isinstance(media, Mapping):
            _check_url(errors, [*path, key, "url"], media.get("url"), allow_attachment=True)
    return size


def _check_custom_id(value: object, errors: FormErrors, path: Path, seen: set[str]) -> None:
    if value is None:
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
    elif not isinstance(value, str) or not 1 <= len(value) <= CUSTOM_ID_MAX:
        errors.add(
            path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {CUSTOM_ID_MAX} in length."
        )
    elif value in seen:
        errors.add(
            path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    else:
        seen.add(value)


def _validate_button(
    button: Mapping[str, Any], errors: FormErrors, path: Path, seen: set[str]
) -> None:
    style = button.get("style")
    if style not in BUTTON_STYLES:
        errors.add(
            [*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}."
        )
    _max_len(errors, [*path, "label"], button.get("label"), BUTTON_LABEL_MAX)
    custom_id, url = button.get("custom_id"), button.get("url")
    if style == LINK_STYLE:
        # Link buttons open their URL in the user's browser: no interaction, no custom id.
        if url is None:
            errors.add([*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
        else:
            _check_url(errors, [*path, "url"], url, allow_attachment=False)
        if custom_id is not None:
            errors.add(
                [*path, "custom_id"],
                "BUTTON_COMPONENT_CUSTOM_ID_URL_EXCLUSIVE",
                "A custom id and url cannot both be specified",
            )
    elif style == PREMIUM_STYLE:
        if button.get("sku_id") is None:
            errors.add([*path, "sku_id"], "BASE_TYPE_REQUIRED", "This field is required")
    else:
        if url is not None:
            errors.add(
                [*path, "url"],
                "BUTTON_COMPONENT_CUSTOM_ID_URL_EXCLUSIVE",
                "A custom id and url cannot both be specified",
            )
        _check_custom_id(custom_id, errors, [*path, "custom_id"], seen)


def validate_components(components: object, errors: FormErrors, path: Path) -> None:
    """A message's components (not the components v2 layout): at most 5 action rows, each
    with 1 to 5 buttons or one select menu, custom ids unique in the message."""
    if components is None:
        return
    if not isinstance(components, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(components) > ACTION_ROWS_MAX:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {ACTION_ROWS_MAX} or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(components):
        if not isinstance(row, Mapping) or row.get("type") != ACTION_ROW:
            errors.add(
                [*path, i, "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        children = row.get("components")
        if not isinstance(children, list) or not 1 <= len(children) <= ROW_WIDTH_MAX:
            errors.add(
                [*path, i, "components"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {ROW_WIDTH_MAX} in length.",
            )
            continue
        width = 0
        for j, child in enumerate(children):
            where = [*path, i, "components", j]
            kind = child.get("type") if isinstance(child, Mapping) else None
            if kind == BUTTON:
                width += 1
                _validate_button(child, errors, where, seen)
            elif kind in SELECT_MENUS:
                width += ROW_WIDTH_MAX
                _check_custom_id(child.get("custom_id"), errors, [*where, "custom_id"], seen)
            else:
                errors.add(
                    [*where, "type"],
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (2, 3, 5, 6, 7, 8).',
                )
        if width > ROW_WIDTH_MAX:
            errors.add(
                [*path, i, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )


def validate_allowed_mentions(allowed: object, errors: FormErrors, path: list[str | int]) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, Mapping):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = allowed.get("parse") or []
    for i, kind in enumerate(parse):
        if kind not in ("everyone", "roles", "users"):
            errors.add(
                [*path, "parse", i],
                "BASE_TYPE_CHOICES",
                "Value must be one of {'everyone', 'roles', 'users'}.",
            )
    for kind in ("users", "roles"):
        ids = allowed.get(kind) or []
        if kind in parse and ids:
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: {list(ids)} are mutually exclusive.',
            )
        if len(ids) > ALLOWED_MENTIONS_IDS_MAX:
            errors.add(
                [*path, kind],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {ALLOWED_MENTIONS_IDS_MAX} or fewer in length.",
            )


def validate_message(payload: Mapping[str, Any], errors: FormErrors, prefix: Path = ()) -> None:
    """Checks content/embed/allowed_mentions/components limits; ``prefix`` nests errors
    (``data`` for interaction callbacks, as Discord does)."""
    base = list(prefix)
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors.add([*base, "content"], "BASE_TYPE_STRING", "Could not interpret value as string.")
    _max_len(errors, [*base, "content"], content, CONTENT_MAX)

    embeds = payload.get("embeds")
    if embeds is not None:
        if len(embeds) > EMBEDS_MAX:
            errors.add(
                [*base, "embeds"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {EMBEDS_MAX} or fewer in length.",
            )
        total = 0
        for i, embed in enumerate(embeds):
            total += _validate_embed(embed, errors, [*base, "embeds", i])
        if total > EMBEDS_TOTAL_MAX:
            errors.add(
                [*base, "embeds"],
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}",
            )
    validate_allowed_mentions(payload.get("allowed_mentions"), errors, [*base, "allowed_mentions"])
    validate_components(payload.get("components"), errors, [*base, "components"])


def is_empty_message(payload: Mapping[str, Any], attachment_count: int) -> bool:
    """Discord answers 50006 "Cannot send an empty message" for these."""
    return not (
        payload.get("content")
        or payload.get("embeds")
        or attachment_count
        or payload.get("sticker_ids")
        or payload.get("components")
        or payload.get("poll")
    )


def validate_choices(choices: object, errors: FormErrors) -> None:
    if not isinstance(choices, list):
        errors.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
        return
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        errors.add(
            ["data", "choices"],
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {AUTOCOMPLETE_CHOICES_MAX} or fewer in length.",
        )
    for i, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, Mapping) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors.add(
                ["data", "choices", i, "name"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        value = choice.get("value") if isinstance(choice, Mapping) else None
        if isinstance(value, str) and len(value) > 100:
            errors.add(
                ["data", "choices", i, "value"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )


def mention_tokens(text: str) -> set[str]:
    """Every mention written in ``text``, as ``user:ID``, ``role:ID``, ``@everyone``, ``@here``."""
    tokens = {f"user:{uid}" for uid in USER_MENTION_RE.findall(text)}
    tokens |= {f"role:{rid}" for rid in ROLE_MENTION_RE.findall(text)}
    if EVERYONE in text:
        tokens.add(EVERYONE)
    if HERE in text:
        tokens.add(HERE)
    return tokens


def embed_texts(embeds: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user-visible text of embeds (title, description, fields, footer, author)."""
    out: list[str] = []
    for embed in embeds:
        for key in ("title", "description"):
            if isinstance(embed.get(key), str):
                out.append(embed[key])
        for field in embed.get("fields") or []:
            out.extend(str(field.get(k, "")) for k in ("name", "value"))
        for key, sub in (("footer", "text"), ("author", "name")):
            part = embed.get(key)
            if isinstance(part, Mapping) and isinstance(part.get(sub), str):
                out.append(part[sub])
    return out


def compute_pings(
    content: str,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    replied_user_id: int | None = None,
) -> frozenset[str]:
    """Which mentions in ``content`` would notify someone, under Discord's allowed_mentions rules.

    - ``allowed_mentions`` absent: everything written pings, and so does the replied-to author.
    - ``parse``: ``"everyone"`` enables @everyone/@here, ``"users"``/``"roles"`` every written
      user/role mention.
    - ``users``/``roles`` lists: only those ids ping, and only if also written in the content.
    - ``replied_user``: whether the replied-to author is pinged (default false when the object
      is sent).

    Deliberately conservative: the sender's MENTION_EVERYONE permission and roles'
    ``mentionable`` flag are not applied, and mentions inside code blocks count, so a test sees
    what the bot *asked* Discord to ping. Embeds never ping, so only ``content`` is scanned.
    """
    written = mention_tokens(content)
    replied = {f"user:{replied_user_id}"} if replied_user_id is not None else set()
    if allowed_mentions is None:
        return frozenset(written | replied)

    parse = set(allowed_mentions.get("parse") or [])
    users = {t for t in written if t.startswith("user:")}
    roles = {t for t in written if t.startswith("role:")}
    pinged: set[str] = set()
    if "everyone" in parse:
        pinged |= written & {EVERYONE, HERE}
    if "users" in parse:
        pinged |= users
    else:
        pinged |= users & {f"user:{int(u)}" for u in allowed_mentions.get("users") or []}
    if "roles" in parse:
        pinged |= roles
    else:
        pinged |= roles & {f"role:{int(r)}" for r in allowed_mentions.get("roles") or []}
    if allowed_mentions.get("replied_user"):
        pinged |= replied
    return frozenset(pinged)
