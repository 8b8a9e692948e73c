"""Redaction of secrets from everything the plugin writes.

One function, :func:`redact`, is applied to the HTML report, JUnit properties,
``deployment.json``, the GitHub step summary and annotations, notifications and
``pipeline.log``. It removes:

- AWS access key ids (``AKIA…``, ``ASIA…``) and secret access keys (40 base64 characters
  with upper case, lower case and digits, or any value after ``aws_secret_access_key``);
- AWS session tokens (the ``FwoGZXIvYXdz…`` / ``IQoJb3JpZ2lu…`` prefixes, or any value after
  ``aws_session_token`` / ``x-amz-security-token``);
- the values of environment variables whose names contain ``SECRET``, ``TOKEN``,
  ``PASSWORD`` or ``KEY`` (values shorter than 8 characters are kept: they cannot be real
  secrets and replacing them would mangle ordinary words, e.g. moto's ``testing``);
- every value registered at run time with :func:`register_secret` (a Secrets Manager value,
  a webhook token, …);
- the credentials inside URLs: user-info (the ``name:password@`` before a URL's host), the
  values of query parameters named like a credential (``token``, ``key``, ``sig``,
  ``X-Amz-Signature`` …) and token-like path segments of web URLs (20 or more letters,
  digits, ``-`` or ``_`` mixing upper case, lower case and digits: the token of a Slack or
  Discord webhook URL).
"""

from __future__ import annotations

import json
import os
import re
import string
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_ENV_SECRET_LENGTH = 8
MIN_REGISTERED_LENGTH = 4

_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|KEY", re.IGNORECASE)
# The access key id's leading "A" comes first so that the search can skip to each "A";
# the lookbehind then says what stood before it.
_ACCESS_KEY_ID = re.compile(
    r"A(?<![A-Z0-9]A)(?:KIA|SIA|IDA|ROA|GPA|NPA|NVA)[A-Z0-9]{16}(?![A-Z0-9])"
)
_KEY_CHARS = string.ascii_letters + string.digits + "/+"
_SECRET_KEY = re.compile(rf"(?<![{_KEY_CHARS}=])[{_KEY_CHARS}]{{40}}(?![{_KEY_CHARS}=])")
_SESSION_PREFIXES = ("FwoGZXIvYXdz", "IQoJb3JpZ2lu", "FQoGZXIvYXdz")
_SESSION_TOKEN = re.compile(f"(?:{'|'.join(_SESSION_PREFIXES)})[A-Za-z0-9/+=]{{16,}}")
# The lookahead names every first character a label can start with (IGNORECASE also
# matches "S" and the long s to "s"): the search then skips ahead by character class.
_LABELLED = re.compile(
    r"(?=[aAsSxX\u017f])(?P<label>(?:aws_secret_access_key|aws_session_token|aws_security_token"
    r"|x-amz-security-token|secretaccesskey|sessiontoken)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',;&}]+)",
    re.IGNORECASE,
)
_LABEL_WORDS = ("secret", "token")  # every label holds one of them
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>`]+")
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/?#@]+@")
_CREDENTIAL_PARAM = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*(?:token|secret|passw(?:or)?d|pwd|signature|sig|key|auth"
    r"|credential|code|session)[\w.-]*)=)(?P<value>[^&#;]+)",
    re.IGNORECASE,
)
_TOKEN_SEGMENT = re.compile(
    r"(?<=/)(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*\d)"
    r"[A-Za-z0-9_-]{20,}(?=[/?#]|$)"
)
_WEB = ("http://", "https://", "ws://", "wss://")


def mask_url(url: str) -> str:
    """``url`` with its user-info, credential query values and, in web URLs, token-like path
    segments (20+ characters mixing upper case, lower case and digits) masked."""
    url = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", url)
    url = _CREDENTIAL_PARAM.sub(lambda m: m.group("name") + MASK, url)
    if not url.lower().startswith(_WEB):
        return url
    return _TOKEN_SEGMENT.sub(MASK, url)


def _urls_hold_credentials(text: str) -> bool:
    return "://" in text and any(mask_url(m.group(0)) != m.group(0) for m in _URL.finditer(text))


_AS_KEY_CHAR = str.maketrans(dict.fromkeys(_KEY_CHARS, "a"))
_KEY_LENGTH_RUN = "a" * 40


def may_hold_builtin(text: str) -> bool:
    """False when no built-in pattern would mask anything in ``text``.

    Most text holds no secret: plain-string checks rule each pattern out many times faster
    than its search (which runs only when the check cannot rule it out).
    """
    if _ACCESS_KEY_ID.search(text) is not None:
        return True
    if any(prefix in text for prefix in _SESSION_PREFIXES):
        return True
    if _KEY_LENGTH_RUN in text.translate(_AS_KEY_CHAR) and any(  # 40 key characters in a row
        _looks_like_secret_key(match.group(0)) for match in _SECRET_KEY.finditer(text)
    ):
        return True
    if _urls_hold_credentials(text):
        return True
    folded = text.casefold()  # as IGNORECASE does: long s (U+017F) is "s", Kelvin (U+212A) "k"
    return any(word in folded for word in _LABEL_WORDS) and _LABELLED.search(text) is not None


def mask_builtin(text: str) -> str:
    """``text`` with whatever the built-in patterns match masked (no checks first)."""
    if "://" in text:
        text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _LABELLED.sub(lambda m: m.group("label") + MASK, text)
    text = _SESSION_TOKEN.sub(MASK, text)
    text = _ACCESS_KEY_ID.sub(MASK, text)
    return _SECRET_KEY.sub(
        lambda m: MASK if _looks_like_secret_key(m.group(0)) else m.group(0), text
    )


def _looks_like_secret_key(candidate: str) -> bool:
    # A git SHA-1 or a hex digest is 40 characters too; real secret keys mix cases and digits.
    return (
        any(c.isupper() for c in candidate)
        and any(c.islower() for c in candidate)
        and any(c.isdigit() for c in candidate)
    )


class Redactor:
    """Replaces secrets in text and in JSON-like data with :data:`MASK`.

    ``environ`` is read at every call (a test may set a variable after start-up); pass a
    mapping to pin it, as the tests do.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._registered: set[str] = set()
        self._order: list[str] = []  # registration order, for handing values to another process
        self._lock = threading.Lock()
        self._cache_key: frozenset[str] | None = None
        self._cache_pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Treat ``value`` as a secret from now on (ignored when shorter than 4 characters)."""
        value = str(value)
        if len(value.strip()) >= MIN_REGISTERED_LENGTH:
            with self._lock:
                for item in (value, value.strip()):
                    # A value read from a file often reaches output with its line ends.
                    if item not in self._registered:
                        self._registered.add(item)
                        self._order.append(item)

    def clear(self) -> None:
        """Forget the values registered at run time."""
        with self._lock:
            self._registered.clear()
            self._order.clear()

    def registered_since(self, mark: int) -> tuple[list[str], int]:
        """Values registered after position ``mark``, and the new mark (for xdist workers,
        which hand them to the controller in memory, never through a file)."""
        with self._lock:
            return list(self._order[mark:]), len(self._order)

    def env_secrets(self) -> list[str]:
        """Values of environment variables whose names say they hold a secret."""
        environ = os.environ if self._environ is None else self._environ
        return [
            value
            for name, value in environ.items()
            if _SECRET_NAME.search(name) and len(value.strip()) >= MIN_ENV_SECRET_LENGTH
        ]

    def _literal_pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            values = frozenset(self._registered) | frozenset(self.env_secrets())
            if values != self._cache_key:
                self._cache_key = values
                ordered = sorted(values, key=len, reverse=True)  # longest first
                self._cache_pattern = (
                    re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
                )
            return self._cache_pattern

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by :data:`MASK`."""
        return self._redact(text, self._literal_pattern())

    @staticmethod
    def _redact(text: str, literal: re.Pattern[str] | None) -> str:
        if not text:
            return text
        if (literal is None or literal.search(text) is None) and not may_hold_builtin(text):
            return text
        if literal is not None:
            text = literal.sub(MASK, text)
        return mask_builtin(text)

    def redact_data(self, data: Any) -> Any:
        """JSON-like ``data`` with every string (keys included) redacted: a copy, or ``data``
        itself when nothing in it needs masking."""
        try:
            if self.clean_json_text(json.dumps(data, ensure_ascii=False)):
                return data
        except (TypeError, ValueError):
            pass  # not JSON: string by string
        literal = self._literal_pattern()  # once for the whole structure
        done: dict[str, str] = {}  # keys and outcomes repeat in every result

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                cleaned = done.get(value)
                if cleaned is None:
                    cleaned = done[value] = self._redact(value, literal)
                return cleaned
            if isinstance(value, Mapping):
                return {walk(k): walk(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [walk(item) for item in value]
            return value

        return walk(data)

    def clean_json_text(self, text: str) -> bool:
        """True when no string of the JSON document ``text`` can hold a secret (one search
        of the whole text: a run's record holds thousands of strings).

        Without a backslash in the text no string held a quote, a backslash or a control
        character (JSON escapes exactly those), so every string stands in the text as it is,
        between quotes that no pattern counts as part of a secret: a secret in a string is a
        match in the text. A match across strings only means the long way.
        """
        if "\\" in text:
            return False
        literal = self._literal_pattern()
        return (literal is None or literal.search(text) is None) and not may_hold_builtin(text)


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor every writer of the plugin uses."""
    return _DEFAULT


def register_secret(value: str) -> None:
    """Redact ``value`` from every output the plugin writes from now on."""
    _DEFAULT.register(value)


def register_secrets(values: Iterable[str]) -> None:
    """:func:`register_secret` for each of ``values``."""
    for value in values:
        _DEFAULT.register(value)


def redact(text: str) -> str:
    """``text`` with AWS keys, tokens, secret env values and registered secrets masked."""
    return _DEFAULT.redact(text)


def redact_data(data: Any) -> Any:
    """A copy of JSON-like ``data`` with every string redacted."""
    return _DEFAULT.redact_data(data)
