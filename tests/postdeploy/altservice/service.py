"""A second, independent implementation of the Passport Photo contract (DESIGN.md §5).

Written apart from ``app/`` on purpose, so the postdeploy suite is shown to judge the
contract and not ``app/``'s habits: only ``us`` and ``eu`` (no ``uk``); another face
detector setup (OpenCV's ``frontalface_default`` cascade, one pass, nothing under 64 px, so
a tiny face is ``no_face``); its own segmentation post-processing (the MediaPipe selfie
model, thresholded and feathered, largest blob only); its own crop (a bigger head for
``eu``, whose shoulders touch the frame; head near the top of the ``us`` range); Pillow for
decoding and a JPEG quality of 85; CORS, headers and errors written by hand; validations kept
in memory (no DynamoDB).

Run as ``python -m tests.postdeploy.altservice.service [ALLOWED_ORIGIN,...]`` or
``python service.py``: prints ``PORT <n>`` once listening on 127.0.0.1.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from email_validator import EmailNotValidError, validate_email
from flask import Flask, Response, jsonify, request
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[3]
#: The selfie segmentation model committed with ``app/`` (its file only; the code is ours).
SEGMENTER = ROOT / "app" / "passport" / "models" / "selfie_segmentation.tflite"
SPECS: dict[str, dict[str, Any]] = {
    "us": {"width_px": 600, "height_px": 600, "head_ratio": [0.50, 0.69], "background": "#ffffff"},
    "eu": {"width_px": 413, "height_px": 531, "head_ratio": [0.70, 0.80], "background": "#ffffff"},
}
#: Where in each spec's head-ratio range this service aims, and the crown's height (share).
AIM = {"us": (0.35, 0.10), "eu": (0.75, 0.05)}
MAX_UPLOAD_BYTES = 10 * 2**20
MAX_PIXELS = 40_000_000
MIN_FACE_PX = 64
JPEG_QUALITY = 85
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


class Refusal(Exception):
    """A contract error: status, code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refuse(status: int, code: str, message: str) -> Response:
    """The contract's error shape."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


class Models:
    """The detector and the segmenter, loaded once; OpenCV objects used one call at a time."""

    def __init__(self) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(str(path))
        self.net = cv2.dnn.readNetFromTFLite(str(SEGMENTER))
        self.lock = threading.Lock()

    def faces(self, rgb: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Frontal faces of at least MIN_FACE_PX at the picture's own scale (max 800 px)."""
        scale = min(1.0, 800 / max(rgb.shape[:2]))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        smallest = max(24, round(MIN_FACE_PX * scale))
        with self.lock:
            found = self.cascade.detectMultiScale(
                gray, scaleFactor=1.08, minNeighbors=8, minSize=(smallest, smallest)
            )
        boxes = [tuple(round(v / scale) for v in box) for box in found]
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        # Detections much smaller than the main face are background clutter.
        return [b for b in boxes if b[2] >= 0.4 * boxes[0][2]] if boxes else []  # type: ignore[misc]

    def person(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Person alpha in [0, 1] at the picture's size: model, threshold, largest blob, feather."""
        small = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
        blob = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        with self.lock:
            self.net.setInput(blob)
            prob = self.net.forward().reshape(256, 256)
        mask = (cv2.resize(prob, (rgb.shape[1], rgb.shape[0])) > 0.5).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            mask = (labels == largest).astype(np.uint8)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, rgb.shape[1] / 300))
        return np.clip(soft, 0.0, 1.0)


def read_picture(data: bytes) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """RGB pixels (upright, transparency on white) and the input's own alpha (1 = opaque)."""
    if not data:
        raise Refusal(400, "missing_photo", "the photo part is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG", "WEBP"):
                raise Refusal(415, "unsupported_media_type", "send a JPEG, PNG or WebP picture")
            if image.width * image.height > MAX_PIXELS:
                raise Refusal(413, "too_large", "the picture has more than 40 megapixels")
            upright = ImageOps.exif_transpose(image) or image
            rgba = upright.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        raise Refusal(415, "unsupported_media_type", "the upload is no readable picture") from None
    pixels = np.asarray(rgba, dtype=np.float32)
    alpha = pixels[:, :, 3:4] / 255.0
    rgb = pixels[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
    return rgb.round().astype(np.uint8), alpha[:, :, 0]


def upload() -> bytes:
    """The bytes of the ``photo`` part (400 missing_photo without one)."""
    part = request.files.get("photo")
    if part is None:
        raise Refusal(400, "missing_photo", "upload the picture as the multipart field 'photo'")
    return part.read()


def one_face(models: Models, rgb: NDArray[np.uint8]) -> tuple[int, int, int, int]:
    """The one face, or the contract's 422 refusal."""
    faces = models.faces(rgb)
    if not faces:
        raise Refusal(422, "no_face", "no face found")
    if len(faces) > 1:
        raise Refusal(422, "multiple_faces", f"{len(faces)} faces found; one is needed")
    if faces[0][2] < max(MIN_FACE_PX, 0.08 * min(rgb.shape[:2])):
        raise Refusal(422, "face_too_small", "the face is too small for a passport photo")
    return faces[0]


def crown_of(mask: NDArray[np.float32], box: tuple[int, int, int, int]) -> float:
    """The top of the person's mask over the face's middle third (the face top when unsure)."""
    x, y, w, h = box
    columns = mask[: y + 1, x + w // 3 : x + 2 * w // 3]
    rows = np.flatnonzero((columns > 0.5).mean(axis=1) > 0.3)
    top = float(rows[0]) if rows.size else y - 0.35 * h
    return min(max(top, y - 0.9 * h), y - 0.1 * h)


def compose(
    rgb: NDArray[np.uint8],
    alpha: NDArray[np.float32],
    mask: NDArray[np.float32],
    box: tuple[int, int, int, int],
    spec_id: str,
) -> tuple[bytes, list[float]]:
    """Crop and scale for the spec, person on white; the JPEG and the face box in it."""
    spec = SPECS[spec_id]
    out_w, out_h = spec["width_px"], spec["height_px"]
    x, y, w, h = box
    crown, chin = crown_of(mask, box), y + 1.08 * h
    low, high = spec["head_ratio"]
    aim, top = AIM[spec_id]
    scale = (low + aim * (high - low)) * out_h / (chin - crown)
    shift_x = out_w / 2 - scale * (x + w / 2)
    shift_y = top * out_h - scale * crown
    matrix = np.float32([[scale, 0, shift_x], [0, scale, shift_y]])
    person = np.minimum(mask, alpha)
    size = (out_w, out_h)
    photo = cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_AREA, borderValue=(255, 255, 255))
    weight = cv2.warpAffine(person, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    weight = weight[..., None]
    result = photo.astype(np.float32) * weight + 255.0 * (1.0 - weight)
    out = io.BytesIO()
    Image.fromarray(result.round().astype(np.uint8)).save(out, "JPEG", quality=JPEG_QUALITY)
    face = [scale * x + shift_x, scale * y + shift_y, scale * w, scale * h]
    return out.getvalue(), [round(v, 1) for v in face]


def create(allowed_origins: tuple[str, ...]) -> Flask:
    """The Flask application."""
    app = Flask("altservice")
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    models = Models()
    validations: list[dict[str, Any]] = []

    @app.errorhandler(Refusal)
    def _refusal(error: Refusal) -> Response:
        return refuse(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        status = error.code or 500
        return refuse(status, codes.get(status, "bad_request"), error.name)

    @app.errorhandler(Exception)
    def _crash(error: Exception) -> Response:
        return refuse(500, "internal_error", "the request could not be processed")

    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS":
            return Response(status=204)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        origin = request.headers.get("Origin")
        if origin and origin in allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                asked = request.headers.get("Access-Control-Request-Headers")
                if asked:
                    response.headers["Access-Control-Allow-Headers"] = asked
        return response

    @app.get("/health")
    def health() -> Response:
        checks = {"models": {"status": "ok"}, "memory_store": {"status": "ok"}}
        return jsonify({"status": "ok", "version": "altservice-1", "checks": checks})

    @app.get("/api/v1/specs")
    def specs() -> Response:
        return jsonify(SPECS)

    @app.post("/api/v1/photos")
    def photos() -> Response:
        spec_id = request.form.get("spec") or "us"
        if spec_id not in SPECS:
            raise Refusal(400, "unknown_spec", f"spec must be one of {', '.join(SPECS)}")
        rgb, alpha = read_picture(upload())
        box = one_face(models, rgb)
        jpeg, face = compose(rgb, alpha, models.person(rgb), box, spec_id)
        spec = SPECS[spec_id]
        return jsonify(
            {
                "spec": spec_id,
                "width": spec["width_px"],
                "height": spec["height_px"],
                "face": {"box": face, "confidence": 1.0},
                "checks": {"encoder": {"jpeg_quality": JPEG_QUALITY}},
                "image": base64.b64encode(jpeg).decode("ascii"),
            }
        )

    @app.post("/api/v1/background")
    def background() -> Response:
        rgb, alpha = read_picture(upload())
        scale = min(1.0, 2048 / max(rgb.shape[:2]))
        if scale < 1:
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        person = np.minimum(models.person(rgb), alpha)
        rgba = np.dstack([rgb, (person * 255).round().astype(np.uint8)])
        out = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(out, "PNG")
        return Response(out.getvalue(), mimetype="image/png")

    @app.post("/api/v1/emails/validate")
    def emails() -> Response:
        try:  # this service's own way: parse, and take a too deep document as no JSON
            body = json.loads(request.get_data() or b"null")
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise Refusal(400, "invalid_json", 'send a JSON object {"email": "..."}')
        email = body.get("email")
        if not isinstance(email, str) or not email.strip():
            raise Refusal(400, "missing_email", 'the JSON object needs a non-empty "email"')
        address = email.strip()
        try:
            info = validate_email(address, check_deliverability=False)
            normalised, valid, reason = info.normalized, True, None
        except EmailNotValidError as error:
            normalised, valid, reason = address, False, str(error)
        except (UnicodeError, ValueError) as error:
            normalised, valid, reason = address, False, f"not an address: {error}"
        validations.append({"email": normalised, "valid": valid})
        safe = normalised.encode("utf-8", "replace").decode("utf-8")
        return jsonify({"email": safe, "valid": valid, "reason": reason})

    return app


class _Handler(WSGIRequestHandler):
    server_version = "altservice"
    sys_version = ""
    # what the server itself refuses (too many or too long headers, a bad request line)
    # answers in the contract's error shape too
    error_content_type = "application/json"
    error_message_format = '{"error": {"code": "http_%(code)d", "message": "%(message)s"}}'

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def main() -> None:
    """Serve on a free loopback port and print it."""
    origins = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ALLOWED_ORIGINS", "")
    app = create(tuple(o.strip() for o in origins.split(",") if o.strip()))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Handler)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
