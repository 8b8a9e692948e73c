"""Probes of the image endpoints (``/api/v1/photos``, ``/api/v1/background``): the answer
judged by the contract and the picture itself by :mod:`pytest_pipeline.postdeploy.images`.

Apart from :mod:`pytest_pipeline.postdeploy.probes` because they need the ``images`` extra
(NumPy, OpenCV, Pillow); every other probe runs on the core install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_pipeline.postdeploy import contract, images
from pytest_pipeline.postdeploy.contract import Response
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import Probe

__all__ = ["probe_background", "probe_photo"]


def _upload(
    client: ServiceClient,
    path: str,
    photo: Path,
    media_type: str,
    fields: dict[str, str] | None,
    label: str,
) -> Response:
    files = {"photo": (photo.name, photo.read_bytes(), media_type)}
    return client.post(path, files=files, data=fields or {}, label=label)


def probe_photo(
    client: ServiceClient,
    photo: Path,
    media_type: str,
    spec_id: str,
    spec: dict[str, Any] | None,
    status: int,
    error: str | None,
    also_correct: Sequence[str] = (),
) -> Probe:
    """``POST /api/v1/photos`` with one photo and spec, expecting ``status``/``error``.

    ``also_correct`` lists other error codes the contract accepts as just as correct (a tiny
    face: ``no_face`` as well as ``face_too_small``). For a success, the picture itself is
    judged rule by rule (one upright face, centred, head height, white background)
    independently of what the service claims; ``probe.rules`` keeps the rules apart.
    """
    label = f"POST /api/v1/photos ({photo.name}, spec={spec_id})"
    resp = _upload(client, "/api/v1/photos", photo, media_type, {"spec": spec_id}, label)
    if status != 200:
        problems = contract.check_error(resp, status, [error or "", *also_correct])
        return Probe(resp, problems, rules={"answer": problems}, unjudged="not a photo case")
    if spec is None:
        problems = [f"{label}: the service offers no spec {spec_id!r} (GET /api/v1/specs)"]
        return Probe(resp, problems, rules={"answer": problems}, unjudged=problems[0])
    problems = contract.check_photo(resp, spec_id, spec)
    probe = Probe(resp, problems, rules={"answer": list(problems)})
    output = contract.photo_image(resp) if resp.status == 200 else None
    if output is None:
        probe.unjudged = f"{label}: no output photo to judge (HTTP {resp.status})"
        return probe
    verdict = images.judge_photo(output, spec)
    for rule in images.PHOTO_RULES:
        if rule != "size" and verdict.judged(rule):  # the answer's check covers the size
            probe.rules[rule] = [f"{label}: {p}" for p in verdict.rules[rule]]
            problems.extend(probe.rules[rule])
    probe.unjudged = f"{label}: {verdict.reason}" if verdict.reason else ""
    probe.pictures = [
        ("input", photo.read_bytes(), media_type),
        (
            f"output ({spec_id}, faces re-detected)",
            images.annotate(output, verdict.faces),
            "image/png",
        ),
    ]
    return probe


def probe_background(
    client: ServiceClient, photo: Path, media_type: str, succeeds: bool, person: bool = True
) -> Probe:
    """``POST /api/v1/background``: an RGBA PNG, border transparent, the face opaque.

    The person checks apply to pictures of one clearly detectable person (``person``: the
    manifest's single-face photos the photo endpoint accepts). When it must not succeed,
    the answer must be a 4xx in the error contract's shape.
    """
    label = f"POST /api/v1/background ({photo.name})"
    resp = _upload(client, "/api/v1/background", photo, media_type, None, label)
    if not succeeds:
        if not 400 <= resp.status < 500:
            return Probe(resp, [f"{label}: expected a 4xx refusal, got HTTP {resp.status}"])
        try:
            code = resp.json_field("error")["code"]
        except (ValueError, TypeError, KeyError):
            code = "<error.code>"
        return Probe(resp, contract.check_error(resp, resp.status, str(code)))
    problems: list[str] = []
    if resp.status != 200:
        problems.append(f"{label}: expected HTTP 200, got {resp.status} (body {resp.text()!r})")
        return Probe(resp, problems)
    if resp.media_type != "image/png":
        problems.append(f"{label}: expected Content-Type image/png, got {resp.media_type!r}")
    problems.extend(
        f"{label}: {p}"
        for p in images.verify_background(resp.body, photo.read_bytes(), person=person)
    )
    probe = Probe(resp, problems)
    probe.pictures = [
        ("input", photo.read_bytes(), media_type),
        ("mask (RGBA)", resp.body, "image/png"),
    ]
    return probe
