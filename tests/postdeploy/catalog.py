"""The catalog of single-fault services: each breaks one rule of the contract, subtly.

Every :class:`Variant` is a mode of ``faulty_service.py`` (a proxy in front of a correct
service), the rule of DESIGN.md §5 it breaks, the part of the postdeploy suite that judges
that rule (a test module and a ``-k`` selection, so a run stays short), and the rule's tests
(``failing``, globs: the first must fail, with the message naming the rule). Every other
selected test must pass: the fault is caught by the rule's own check, not by luck.
``docs/postdeploy.md`` shows this table.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One single-fault service and how the suite must catch it."""

    mode: str
    rule: str
    fault: str
    module: str
    select: str
    failing: tuple[str, ...]
    message: str


PHOTOS = "test_photos.py"
CATALOG: tuple[Variant, ...] = (
    Variant(
        "one-px-wider",
        "photo output: exactly the spec's size",
        "rounds 35 mm at 300 dpi up: eu photos 414 px wide, the JSON still says 413",
        PHOTOS,
        "astronaut.jpg",
        ("test_photo_answer[[]astronaut.jpg-eu]", "test_photo_answer[[]astronaut.jpg-uk]"),
        "*output picture is 414x531 px, the spec says 413x531*",
    ),
    Variant(
        "upside-down",
        "photo output: one upright face",
        "writes rows bottom-up: the photo comes out upside down",
        PHOTOS,
        "astronaut.jpg",
        ("test_photo_one_face[[]astronaut.jpg-*]",),
        "*[[]exactly one upright face in the photo]*not upright*",
    ),
    Variant(
        "off-centre",
        "photo output: face centred within 5% of the width",
        "shifts the crop 8% of the width off the face's middle",
        PHOTOS,
        "astronaut.jpg",
        ("test_photo_centred[[]astronaut.jpg-us]", "test_photo_centred[[]astronaut.jpg-*]"),
        "*face not centred: its centre * is *% of the width right of the middle*",
    ),
    Variant(
        "small-head",
        "photo output: head height within the spec's head_ratio",
        "composes eu with us's head ratio (0.595 instead of 0.70-0.80)",
        PHOTOS,
        "astronaut.jpg",
        (
            "test_photo_head_height[[]astronaut.jpg-eu]",
            "test_photo_head_height[[]astronaut.jpg-uk]",
        ),
        "*head height (crown y=* to chin y~*) is 0.* of the photo height, outside head_ratio"
        " [[]0.7, 0.8]*",
    ),
    Variant(
        "grey-background",
        "photo output: background near white",
        "composites the person on light studio grey (212) instead of white",
        PHOTOS,
        "astronaut.jpg",
        ("test_photo_background_white[[]astronaut.jpg-*]",),
        "*background is not white: only 0% of the * background pixels*",
    ),
    Variant(
        "name-trusted",
        "input: recognised by content, not by name or declared type",
        "refuses PNG content uploaded as face.jpg / image/jpeg with 415",
        PHOTOS,
        "png_named_jpg",
        (
            "test_photo_answer[[]astronaut_png_named_jpg.jpg-us]",
            "test_photo_answer[[]astronaut_png_named_jpg.jpg-*]",
            "test_background[[]astronaut_png_named_jpg.jpg]",
        ),
        "*[[]sample: input: recognised by content, not by file name or declared type]*",
    ),
    Variant(
        "webp-refused",
        "input: JPEG, PNG or WebP",
        "accepts only JPEG and PNG: WebP is refused with 415",
        PHOTOS,
        "webp",
        (
            "test_photo_answer[[]astronaut.webp-us]",
            "test_photo_answer[[]astronaut.webp-*]",
            "test_background[[]astronaut.webp]",
        ),
        "*[[]sample: input: JPEG, PNG or WebP, recognised by content]*expected HTTP 200, got 415*",
    ),
    Variant(
        "upload-limit-missing",
        "input: over MAX_UPLOAD_MB is 413",
        "has no body limit: an 11 MB upload is read, then refused as no picture (415)",
        "test_errors.py",
        "oversized",
        ("test_error_contract[[]photos-oversized-413]",),
        "*expected HTTP 413, got 415*",
    ),
    Variant(
        "exif-ignored",
        "input: EXIF orientation honoured",
        "reads the pixels as stored, ignoring the EXIF Orientation tag",
        PHOTOS,
        "rotated_exif",
        (
            "test_photo_*[[]astronaut_rotated_exif.jpg-us]",
            "test_photo_*[[]astronaut_rotated_exif.jpg-*]",
            "test_background[[]astronaut_rotated_exif.jpg]",
        ),
        "*[[]sample: input: EXIF orientation is honoured (the photo comes out upright)]*",
    ),
    Variant(
        "alpha-dropped",
        "input: transparency composited on white",
        "drops the alpha channel: transparent pixels show the colours stored under them",
        PHOTOS,
        "alpha",
        (
            "test_photo_answer[[]astronaut_hidden_face_alpha.png-us]",
            "test_photo_*[[]astronaut_hidden_face_alpha.png-*]",
            "test_background[[]astronaut_hidden_face_alpha.png]",
        ),
        "*[[]sample: input: transparency is composited on white]*multiple_faces*",
    ),
    Variant(
        "empty-part-415",
        "input: an empty photo part is 400 missing_photo",
        "answers an empty upload 415, as for any unreadable bytes",
        PHOTOS,
        "empty.jpg",
        ("test_photo_answer[[]empty.jpg-us]", "test_background[[]empty.jpg]"),
        "*expected HTTP 400, got 415*",
    ),
    Variant(
        "undecodable-500",
        "input: bytes that do not decode are 415",
        "crashes (500) on a JPEG cut short",
        PHOTOS,
        "truncated.jpg",
        ("test_photo_answer[[]truncated.jpg-us]", "test_background[[]truncated.jpg]"),
        "*expected HTTP 415, got 500*",
    ),
    Variant(
        "pixel-limit-missing",
        "input: over 40 megapixels decoded is 413",
        "decodes a 144-megapixel PNG and looks for a face in it",
        PHOTOS,
        "huge.png",
        ("test_photo_answer[[]huge.png-us]", "test_background[[]huge.png]"),
        "*expected HTTP 413, got 422*",
    ),
    Variant(
        "no-face-400",
        "faces: no face is 422 no_face",
        "answers no_face with HTTP 400",
        PHOTOS,
        "coffee.jpg",
        ("test_photo_answer[[]coffee.jpg-us]",),
        "*expected HTTP 422, got 400*",
    ),
    Variant(
        "multiple-faces-accepted",
        "faces: more than one face is 422 multiple_faces",
        "keeps the largest face and ignores the others",
        PHOTOS,
        "two_faces.jpg",
        ("test_photo_answer[[]two_faces.jpg-us]", "test_background[[]two_faces.jpg]"),
        "*expected HTTP 422, got 200*",
    ),
    Variant(
        "tiny-face-accepted",
        "faces: a tiny face is face_too_small or no_face, never 200",
        "trims a uniform border and upscales small inputs, so a 48 px face passes",
        PHOTOS,
        "small_face.jpg or tiny.jpg",
        (
            "test_photo_answer[[]small_face.jpg-us]",
            "test_photo_answer[[]tiny.jpg-us]",
            "test_background[[]small_face.jpg]",
            "test_background[[]tiny.jpg]",
        ),
        "*expected HTTP 422, got 200*",
    ),
    Variant(
        "background-kept",
        "background output: background transparent, person opaque",
        "scales the mask to alpha 160-255: the background stays visible",
        PHOTOS,
        "test_background and astronaut",
        ("test_background[[]astronaut.jpg]", "test_background[[]astronaut*]"),
        "*background not removed: only 0% of the border is transparent*",
    ),
    Variant(
        "eu-spec-wrong",
        "specs: us 600x600 and eu 413x531 required",
        "offers eu as 413x532 px",
        "test_specs.py",
        "",
        ("test_specs_contract",),
        "*spec 'eu' must be 413x531 px, got 413x532*",
    ),
    Variant(
        "email-local-lowercased",
        "emails: normalised address (local part kept, domain lower-case)",
        "lower-cases the whole address, local part included",
        "test_emails.py",
        "",
        ("test_email_validation[[]valid-domain-case-normalised]", "test_email_validation[[]*]"),
        "*expected normalised email 'Jane.Doe@example.com', got 'jane.doe@example.com'*",
    ),
    Variant(
        "email-permissive",
        "emails: valid only as RFC 5322 dot-atoms with an IDNA domain",
        "validates with a regex (anything@anything.anything)",
        "test_emails.py",
        "",
        ("test_email_validation[[]invalid-trailing-dot-local]", "test_email_validation[[]*]"),
        "*expected valid=False, got valid=True*",
    ),
    Variant(
        "csp-missing",
        "headers: a Content-Security-Policy on every response",
        "sends X-Frame-Options: DENY but no Content-Security-Policy",
        "test_errors.py",
        "test_security_headers",
        ("test_security_headers[[]/health]", "test_security_headers[[]*]"),
        "*expected a Content-Security-Policy header, got none*",
    ),
    Variant(
        "nosniff-missing-on-errors",
        "headers: nosniff on every response",
        "sets X-Content-Type-Options on successful answers only",
        "test_errors.py",
        "test_security_headers",
        ("test_security_headers[[]/no/such/page]", "test_security_headers[[]*]"),
        "*expected X-Content-Type-Options: nosniff, got None*",
    ),
    Variant(
        "framable",
        "headers: framing denied",
        "a CSP without frame-ancestors and no X-Frame-Options",
        "test_errors.py",
        "test_security_headers",
        ("test_security_headers[[]/health]", "test_security_headers[[]*]"),
        "*framing must be denied*",
    ),
    Variant(
        "html-404",
        "errors: JSON error shape on every error",
        "unknown paths get the web server's HTML 404 page",
        "test_errors.py",
        "test_error_contract",
        ("test_error_contract[[]unknown-path-404]",),
        "*expected Content-Type application/json, got 'text/html; charset=utf-8'*",
    ),
    Variant(
        "trace-on-bad-json",
        "errors: no stack trace in an error body",
        "answers malformed JSON with a 500 and the Python traceback",
        "test_errors.py",
        "test_error_contract",
        ("test_error_contract[[]emails-invalid-json-400]",),
        "*response leaks a stack trace or debugger*",
    ),
    Variant(
        "emails-500-on-non-string",
        "schema: no 5xx, every answer as documented (fuzzing)",
        'crashes (500) when "email" is not a string, e.g. {"email": 5}',
        "test_contract_fuzz.py",
        "emails",
        ("test_contract_fuzz[[]POST /api/v1/emails/validate-negative]",),
        "*Server error*Reproduce with:*curl -X POST*/api/v1/emails/validate*",
    ),
    Variant(
        "cors-reflect",
        "CORS: other origins get no Access-Control-Allow-Origin",
        "reflects any Origin into Access-Control-Allow-Origin",
        "test_cors.py",
        "",
        ("test_denied_origin_simple[[]other-site]", "test_denied_origin_*"),
        "*from denied origin 'https://evil.example': expected no Access-Control-Allow-Origin*",
    ),
    Variant(
        "cors-star",
        "CORS: never * with credentials",
        "Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true",
        "test_cors.py",
        "test_allowed_origin_simple",
        ("test_allowed_origin_simple",),
        "*Access-Control-Allow-Origin '*' together with Access-Control-Allow-Credentials*",
    ),
    Variant(
        "lying-health",
        "health: 200 only when every dependency is ok",
        "answers 200 'ok' while its own DynamoDB check says 'fail'",
        "test_availability.py",
        "",
        ("test_health_contract",),
        "*health answers 200 'ok' but its check 'dynamodb' is 'fail'*the health endpoint lies*",
    ),
)


def verdict(variant: Variant, exit_code: int, output: str) -> list[str]:
    """What is wrong with a suite run (``-rf`` output) on ``variant``: empty when the suite
    failed, only in the rule's test, with the message naming the rule."""
    problems = []
    if exit_code != 1:
        problems.append(f"the suite exited {exit_code}, not 1 (tests failed)")
    failed = re.findall(r"^FAILED [^:]+::(.+?)(?: - .*)?$", output, re.MULTILINE)
    if not any(fnmatch.fnmatchcase(test, variant.failing[0]) for test in failed):
        problems.append(f"{variant.failing[0]} did not fail (failed: {failed})")
    stray = [t for t in failed if not any(fnmatch.fnmatchcase(t, g) for g in variant.failing)]
    if stray:
        problems.append(f"other tests failed too (the fault is not single): {stray}")
    if not fnmatch.fnmatchcase(output, variant.message):
        problems.append(f"no failure message matches {variant.message!r}")
    return problems
