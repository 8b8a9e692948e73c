"""Response validators for the Passport Photo backend's HTTP contract (DESIGN.md §5).

Every validator is a pure function over one response (status, headers, body) that returns a
list of problems, each a specific sentence naming the request, what was expected and what
came back. An empty list means the response honours the contract. The suites call these
against any service; the hypothesis property in ``tests/postdeploy`` checks they accept
exactly the responses that honour it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "REQUIRED_SPECS",
    "Response",
    "check_cors_allowed",
    "check_cors_denied",
    "check_email",
    "check_error",
    "check_health",
    "check_https_redirect",
    "check_no_leaks",
    "check_photo",
    "check_preflight_allowed",
    "check_preflight_denied",
    "check_security_headers",
    "check_specs",
]

#: Specs every service must offer, with their exact pixel size.
REQUIRED_SPECS: dict[str, tuple[int, int]] = {"us": (600, 600), "eu": (413, 531)}

# Markers of a leaked stack trace or debugger page in an error body.
_TRACE_PATTERNS = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"\bat [\w.$]+\([\w.]+\.java:\d+\)"),
    re.compile(r"Werkzeug Debugger", re.IGNORECASE),
    re.compile(r"\b(?:[A-Z]\w*Error|Exception): .*\n\s+at ", re.MULTILINE),
]
# A product name followed by a version (``gunicorn/23.0.0``, ``Werkzeug/3.1 Python/3.11``).
_VERSIONED_PRODUCT = re.compile(r"[A-Za-z][\w.-]*/\d+(?:\.\d+)*")
_BANNER_HEADERS = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Runtime")


@dataclass(frozen=True)
class Response:
    """One HTTP response as the validators see it: request label, status, headers, body.

    ``request`` (``"POST /api/v1/photos (face.jpg, spec=us)"``) only labels messages.
    Header lookups are case-insensitive.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    request: str = "request"
    elapsed_ms: float = 0.0

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json_field(self, key: str | None) -> Any:
        """The decoded JSON body (``key=None``) or one top-level field of it.

        Raises ``ValueError`` when the body is not JSON.
        """
        data = json.loads(self.body)
        if key is None:
            return data
        return data.get(key) if isinstance(data, dict) else None

    def text(self, limit: int = 200) -> str:
        """The body as text, shortened to ``limit`` characters for messages."""
        text = self.body.decode("utf-8", errors="replace")
        return text if len(text) <= limit else text[:limit] + "…"


def _json(resp: Response, problems: list[str]) -> Any:
    """Decode a JSON body, adding a problem (and returning None) when it is not JSON."""
    if resp.media_type != "application/json":
        problems.append(
            f"{resp.request}: expected Content-Type application/json, "
            f"got {resp.header('Content-Type')!r} (body {resp.text(80)!r})"
        )
        return None
    try:
        return json.loads(resp.body)
    except (ValueError, UnicodeDecodeError) as error:
        problems.append(f"{resp.request}: body is not valid JSON ({error}): {resp.text(80)!r}")
        return None


def _expect_status(resp: Response, expected: int, problems: list[str]) -> bool:
    if resp.status != expected:
        problems.append(
            f"{resp.request}: expected HTTP {expected}, got {resp.status} (body {resp.text()!r})"
        )
        return False
    return True


def _json_object(resp: Response, problems: list[str], what: str) -> dict[str, Any] | None:
    """A 200 answer's JSON object body; None, with the problems noted, when it is not one."""
    if not _expect_status(resp, 200, problems):
        return None
    body = _json(resp, problems)
    if not isinstance(body, dict):
        if body is not None:
            problems.append(f"{resp.request}: {what} must be a JSON object, got {body!r}")
        return None
    return body


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_no_leaks(resp: Response) -> list[str]:
    """No stack trace in the body and no server banner with a version in the headers."""
    problems: list[str] = []
    text = resp.body.decode("utf-8", errors="replace")
    for pattern in _TRACE_PATTERNS:
        match = pattern.search(text)
        if match:
            problems.append(
                f"{resp.request}: response leaks a stack trace or debugger ({match.group(0)!r})"
            )
            break
    server = resp.header("Server")
    if server and _VERSIONED_PRODUCT.search(server):
        problems.append(
            f"{resp.request}: Server header leaks software versions ({server!r}); "
            "send a bare product name or none"
        )
    for name in _BANNER_HEADERS:
        if resp.header(name) is not None:
            problems.append(
                f"{resp.request}: {name} header leaks the stack ({resp.header(name)!r})"
            )
    return problems


def check_error(resp: Response, status: int, code: str | Sequence[str]) -> list[str]:
    """An error response: the status, JSON ``{"error": {"code", "message"}}``, no leaks.

    ``code`` may list several codes the contract accepts as equally correct.
    """
    codes = [code] if isinstance(code, str) else [c for c in code if c]
    problems: list[str] = []
    _expect_status(resp, status, problems)
    body = _json(resp, problems)
    if body is not None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            problems.append(
                f'{resp.request}: error body must be {{"error": {{...}}}}, got {body!r}'
            )
        else:
            if error.get("code") not in codes:
                wanted = " or ".join(repr(c) for c in codes)
                problems.append(
                    f"{resp.request}: expected error code {wanted}, got {error.get('code')!r}"
                )
            message = error.get("message")
            if not isinstance(message, str) or not message.strip():
                problems.append(f"{resp.request}: error.message must be a non-empty string")
    problems.extend(check_no_leaks(resp))
    return problems


def check_health(resp: Response) -> list[str]:
    """``GET /health`` of a healthy service: 200, status ok, a version, every check ok.

    A 200 whose own checks say ``fail`` (a health endpoint that lies) is reported by name.
    """
    problems: list[str] = []
    body = _json(resp, problems)
    if resp.status != 200:
        failing = ""
        if isinstance(body, dict) and isinstance(body.get("checks"), dict):
            bad = [
                name
                for name, check in body["checks"].items()
                if not (isinstance(check, dict) and check.get("status") == "ok")
            ]
            failing = f"; failing checks: {', '.join(bad)}" if bad else ""
        problems.append(
            f"{resp.request}: service is not healthy: HTTP {resp.status}{failing} "
            f"(body {resp.text()!r})"
        )
        return problems
    if not isinstance(body, dict):
        if body is not None:
            problems.append(f"{resp.request}: health body must be a JSON object, got {body!r}")
        return problems
    if body.get("status") != "ok":
        problems.append(
            f"{resp.request}: HTTP 200 but status is {body.get('status')!r}, not 'ok' "
            "(an unhealthy service must answer 503)"
        )
    version = body.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"{resp.request}: 'version' must be a non-empty string, got {version!r}")
    checks = body.get("checks")
    if not isinstance(checks, dict) or not checks:
        problems.append(f"{resp.request}: 'checks' must be a non-empty object, got {checks!r}")
        return problems
    for name, check in checks.items():
        status = check.get("status") if isinstance(check, dict) else None
        if status not in ("ok", "fail"):
            problems.append(
                f"{resp.request}: check {name!r} must have status 'ok' or 'fail', got {check!r}"
            )
        elif status != "ok":
            problems.append(
                f"{resp.request}: health answers 200 'ok' but its check {name!r} is "
                f"{status!r} ({check}) — the health endpoint lies"
            )
    return problems


def check_specs(resp: Response) -> list[str]:
    """``GET /api/v1/specs``: every spec well formed; at least ``us`` 600x600, ``eu`` 413x531."""
    problems: list[str] = []
    body = _json_object(resp, problems, "specs")
    if body is None:
        return problems
    for spec_id, (width, height) in REQUIRED_SPECS.items():
        spec = body.get(spec_id)
        if not isinstance(spec, dict):
            problems.append(f"{resp.request}: required spec {spec_id!r} is missing")
        elif (spec.get("width_px"), spec.get("height_px")) != (width, height):
            problems.append(
                f"{resp.request}: spec {spec_id!r} must be {width}x{height} px, "
                f"got {spec.get('width_px')}x{spec.get('height_px')}"
            )
    for spec_id, spec in body.items():
        problems.extend(f"{resp.request}: {p}" for p in spec_problems(spec_id, spec))
    return problems


def spec_problems(spec_id: str, spec: object) -> list[str]:
    """What is wrong with one spec object (width_px, height_px, head_ratio, background)."""
    if not isinstance(spec, dict):
        return [f"spec {spec_id!r} must be an object, got {spec!r}"]
    problems: list[str] = []
    for key in ("width_px", "height_px"):
        if not _is_int(spec.get(key)) or spec[key] <= 0:
            problems.append(
                f"spec {spec_id!r}: {key} must be a positive integer, got {spec.get(key)!r}"
            )
    ratio = spec.get("head_ratio")
    if not (
        isinstance(ratio, list)
        and len(ratio) == 2
        and all(_is_number(r) for r in ratio)
        and 0 < ratio[0] <= ratio[1] <= 1
    ):
        problems.append(
            f"spec {spec_id!r}: head_ratio must be [min, max] with 0 < min <= max <= 1, "
            f"got {ratio!r}"
        )
    background = spec.get("background")
    if not isinstance(background, str) or background.lower() != "#ffffff":
        problems.append(f"spec {spec_id!r}: background must be '#ffffff', got {background!r}")
    return problems


def check_photo(resp: Response, spec_id: str, spec: Mapping[str, Any]) -> list[str]:
    """A successful ``POST /api/v1/photos``: the JSON shape, the size, a decodable JPEG.

    The picture itself (face, centring, head height, background) is judged by
    :func:`pytest_pipeline.postdeploy.images.verify_photo` on :func:`photo_image`'s bytes.
    """
    problems: list[str] = []
    body = _json_object(resp, problems, "photo result")
    if body is None:
        return problems
    width, height = spec["width_px"], spec["height_px"]
    if body.get("spec") != spec_id:
        problems.append(f"{resp.request}: expected spec {spec_id!r}, got {body.get('spec')!r}")
    if (body.get("width"), body.get("height")) != (width, height):
        problems.append(
            f"{resp.request}: expected a {width}x{height} photo for spec {spec_id!r}, "
            f"the response says {body.get('width')}x{body.get('height')}"
        )
    face = body.get("face")
    box = face.get("box") if isinstance(face, dict) else None
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        problems.append(f"{resp.request}: face.box must be [x, y, w, h], got {face!r}")
    elif not isinstance(face, dict) or not _is_number(face.get("confidence")):
        problems.append(f"{resp.request}: face.confidence must be a number, got {face!r}")
    if not isinstance(body.get("checks"), dict):
        problems.append(f"{resp.request}: 'checks' must be an object, got {body.get('checks')!r}")
    image = body.get("image")
    data = decode_image(image)
    if data is None:
        problems.append(f"{resp.request}: 'image' must be a base64 JPEG, got {str(image)[:40]!r}")
    else:
        problems.extend(_jpeg_size_problems(resp.request, data, width, height))
    return problems


def decode_image(value: object) -> bytes | None:
    """The bytes of a base64 (optionally ``data:`` URL) image field, or None if not base64."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def photo_image(resp: Response) -> bytes | None:
    """The decoded output picture of a photo response, or None."""
    try:
        body = json.loads(resp.body)
    except ValueError:
        return None
    return decode_image(body.get("image")) if isinstance(body, dict) else None


def _jpeg_size_problems(request: str, data: bytes, width: int, height: int) -> list[str]:
    from PIL import Image, UnidentifiedImageError  # Pillow: the optional extra 'images'

    try:
        with Image.open(io.BytesIO(data)) as picture:
            fmt, size = picture.format, picture.size
    except (UnidentifiedImageError, OSError) as error:
        return [f"{request}: 'image' is not a picture ({error})"]
    problems = []
    if fmt != "JPEG":
        problems.append(f"{request}: 'image' must be a JPEG, got {fmt}")
    if size != (width, height):
        problems.append(
            f"{request}: output picture is {size[0]}x{size[1]} px, the spec says {width}x{height}"
        )
    return problems


def check_email(resp: Response, expect_valid: bool, expect_email: str | None = None) -> list[str]:
    """``POST /api/v1/emails/validate``: 200, normalised email, verdict, reason iff invalid."""
    problems: list[str] = []
    body = _json_object(resp, problems, "the validation result")
    if body is None:
        return problems
    valid, reason = body.get("valid"), body.get("reason")
    if not isinstance(valid, bool):
        problems.append(f"{resp.request}: 'valid' must be true or false, got {valid!r}")
    elif valid != expect_valid:
        problems.append(
            f"{resp.request}: expected valid={expect_valid}, got valid={valid} (reason {reason!r})"
        )
    if not isinstance(body.get("email"), str):
        problems.append(f"{resp.request}: 'email' must be a string, got {body.get('email')!r}")
    elif expect_email is not None and body["email"] != expect_email:
        problems.append(
            f"{resp.request}: expected normalised email {expect_email!r}, got {body['email']!r}"
        )
    if valid is True and reason is not None:
        problems.append(f"{resp.request}: a valid address must have reason null, got {reason!r}")
    if valid is False and (not isinstance(reason, str) or not reason.strip()):
        problems.append(f"{resp.request}: an invalid address needs a reason string, got {reason!r}")
    problems.extend(check_no_leaks(resp))
    return problems


def _cors_credentials(resp: Response) -> list[str]:
    allow = resp.header("Access-Control-Allow-Origin")
    creds = (resp.header("Access-Control-Allow-Credentials") or "").strip().lower()
    if allow is not None and allow.strip() == "*" and creds == "true":
        return [
            f"{resp.request}: Access-Control-Allow-Origin '*' together with "
            "Access-Control-Allow-Credentials: true (browsers reject it; it is never allowed)"
        ]
    return []


def check_cors_allowed(resp: Response, origin: str) -> list[str]:
    """A simple request from an allowed origin gets that origin back, never ``*``."""
    problems = _cors_credentials(resp)
    allow = resp.header("Access-Control-Allow-Origin")
    if allow != origin:
        problems.append(
            f"{resp.request} from allowed origin {origin!r}: expected "
            f"Access-Control-Allow-Origin {origin!r}, got {allow!r}"
        )
    return problems


def check_cors_denied(resp: Response, origin: str) -> list[str]:
    """A request from another origin gets no Access-Control-Allow-Origin at all."""
    problems = _cors_credentials(resp)
    allow = resp.header("Access-Control-Allow-Origin")
    if allow is not None:
        problems.append(
            f"{resp.request} from denied origin {origin!r}: expected no "
            f"Access-Control-Allow-Origin, got {allow!r}"
        )
    return problems


def check_preflight_allowed(resp: Response, origin: str, method: str) -> list[str]:
    """An OPTIONS preflight from an allowed origin: 2xx, that origin, the method allowed."""
    problems = check_cors_allowed(resp, origin)
    if not 200 <= resp.status < 300:
        problems.append(f"{resp.request}: preflight must answer 2xx, got {resp.status}")
    methods = resp.header("Access-Control-Allow-Methods") or ""
    allowed = {m.strip().upper() for m in methods.split(",")}
    if method.upper() not in allowed and "*" not in allowed:
        problems.append(
            f"{resp.request}: preflight for {method} must list it in "
            f"Access-Control-Allow-Methods, got {methods!r}"
        )
    return problems


def check_preflight_denied(resp: Response, origin: str) -> list[str]:
    """An OPTIONS preflight from another origin gets no Access-Control-Allow-Origin."""
    return check_cors_denied(resp, origin)


def check_security_headers(resp: Response, https: bool) -> list[str]:
    """``X-Content-Type-Options: nosniff``, a ``Content-Security-Policy`` and framing denied
    (``X-Frame-Options: DENY`` or CSP ``frame-ancestors 'none'``) on every answer; HSTS with
    a max-age when over HTTPS."""
    problems: list[str] = []
    if (resp.header("X-Content-Type-Options") or "").strip().lower() != "nosniff":
        problems.append(
            f"{resp.request}: expected X-Content-Type-Options: nosniff, "
            f"got {resp.header('X-Content-Type-Options')!r}"
        )
    csp = (resp.header("Content-Security-Policy") or "").strip()
    if not csp:
        problems.append(f"{resp.request}: expected a Content-Security-Policy header, got none")
    frame_options = (resp.header("X-Frame-Options") or "").strip().upper()
    ancestors = re.search(r"(?:^|;)\s*frame-ancestors\s+'none'\s*(?:;|$)", csp, re.IGNORECASE)
    if frame_options != "DENY" and not ancestors:
        problems.append(
            f"{resp.request}: framing must be denied (X-Frame-Options: DENY or CSP "
            f"frame-ancestors 'none'), got X-Frame-Options {resp.header('X-Frame-Options')!r} "
            f"and CSP {csp or None!r}"
        )
    if https:
        hsts = resp.header("Strict-Transport-Security") or ""
        match = re.search(r"max-age=(\d+)", hsts)
        if not match or int(match.group(1)) <= 0:
            problems.append(
                f"{resp.request}: over HTTPS, expected Strict-Transport-Security with "
                f"max-age > 0, got {hsts or None!r}"
            )
    problems.extend(check_no_leaks(resp))
    return problems


def check_https_redirect(resp: Response) -> list[str]:
    """A plain-HTTP request is redirected (301/302/307/308) to an ``https://`` location."""
    location = resp.header("Location") or ""
    if resp.status not in (301, 302, 307, 308) or not location.startswith("https://"):
        return [
            f"{resp.request}: plain HTTP must redirect to HTTPS, got {resp.status} "
            f"Location {location or None!r}"
        ]
    return []
