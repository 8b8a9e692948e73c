"""The sample-photo manifest (`test_images/manifest.toml`): what each photo must produce.

Each `[[images]]` table names a file and the service's expected answer to
`POST /api/v1/photos` (status, error code, and any other error codes the contract accepts as
equally correct), the true face count, the specs to request, whether
`POST /api/v1/background` must succeed, the contract rule the sample exercises, and where
the picture comes from.
`load_manifest` validates the whole file and raises one `ManifestError` listing every
problem with the entry it is in and how to fix it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FIELDS", "ImageCase", "ManifestError", "load_manifest"]


class ManifestError(ValueError):
    """The manifest cannot be used; the message names each bad entry and the fix."""


@dataclass(frozen=True)
class ImageCase:
    """One sample photo and what the service must answer for it."""

    file: str
    media_type: str
    status: int
    error: str
    faces: int
    specs: tuple[str, ...]
    background: bool
    source: str
    licence: str
    description: str
    path: Path
    derived_from: str | None = None
    also_correct: tuple[str, ...] = ()
    rule: str = ""

    @property
    def errors(self) -> tuple[str, ...]:
        """Every error code the contract accepts for this photo (the first is the usual one)."""
        return (self.error, *self.also_correct) if self.error else ()

    @property
    def ok(self) -> bool:
        """Whether the photo must be accepted (HTTP 200)."""
        return self.status == 200

    def read(self) -> bytes:
        """The photo's bytes."""
        return self.path.read_bytes()


# name -> (type, required)
FIELDS: dict[str, tuple[type, bool]] = {
    "file": (str, True),
    "media_type": (str, True),
    "status": (int, True),
    "error": (str, True),
    "faces": (int, True),
    "specs": (list, True),
    "background": (bool, True),
    "source": (str, True),
    "licence": (str, True),
    "derived_from": (str, False),
    "also_correct": (list, False),
    "rule": (str, False),
    "description": (str, True),
}


def _label(index: int, entry: dict[str, Any]) -> str:
    name = entry.get("file")
    return f"[[images]] #{index + 1}" + (f" ({name})" if isinstance(name, str) else "")


def _entry_problems(entry: dict[str, Any], base: Path) -> list[str]:
    problems: list[str] = []
    for key in sorted(set(entry) - set(FIELDS)):
        problems.append(f"unknown key {key!r}: remove it (known keys: {', '.join(FIELDS)})")
    for key, (kind, required) in FIELDS.items():
        if key not in entry:
            if required:
                problems.append(f"missing key {key!r}: add `{key} = ...`")
            continue
        value = entry[key]
        # bool is an int in Python; a status of `true` is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(
                f"{key!r} must be of type {kind.__name__}, got {type(value).__name__} {value!r}"
            )
    if problems:
        return problems
    if not 100 <= entry["status"] <= 599:
        problems.append(f"'status' {entry['status']} is not an HTTP status (100-599)")
    if entry["status"] == 200 and entry["error"]:
        problems.append('a 200 entry must have error = ""')
    if entry["status"] != 200 and not entry["error"]:
        problems.append(f"a {entry['status']} entry needs its error code in 'error'")
    also = entry.get("also_correct", [])
    if also and (entry["status"] == 200 or not all(isinstance(c, str) and c for c in also)):
        problems.append(
            "'also_correct' lists other error codes equally correct for an error entry, "
            'e.g. ["no_face"]'
        )
    if entry["faces"] < 0:
        problems.append("'faces' cannot be negative")
    specs = entry["specs"]
    if not specs or not all(isinstance(s, str) and s for s in specs):
        problems.append('\'specs\' must be a non-empty list of spec ids, e.g. ["us", "eu"]')
    elif entry["status"] == 200 and not {"us", "eu"} <= set(specs):
        problems.append('a 200 entry must request at least specs ["us", "eu"]')
    if "/" not in entry["media_type"]:
        problems.append(f"'media_type' {entry['media_type']!r} is not a type/subtype")
    rel = Path(entry["file"])
    if rel.is_absolute() or ".." in rel.parts:
        problems.append(f"'file' {entry['file']!r} must be a path inside {base}")
    elif not (base / rel).is_file():
        problems.append(
            f"file {base / rel} does not exist: add it or regenerate the set "
            "(python test_images/make_images.py)"
        )
    return problems


def load_manifest(path: Path) -> list[ImageCase]:
    """Read and validate the manifest at `path`; files are resolved next to it.

    Raises `ManifestError` naming every bad entry (missing/unknown keys, wrong types,
    missing image files, duplicate names) and what to do about it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(
            f"cannot read the image manifest {path}: {error}; "
            "create it with python test_images/make_images.py"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path} is not valid TOML: {error}") from None
    unknown_top = sorted(set(doc) - {"images"})
    entries = doc.get("images")
    problems: list[str] = []
    if unknown_top:
        problems.append(f"unknown top-level keys {unknown_top}: only [[images]] tables belong here")
    if not isinstance(entries, list) or not entries:
        problems.append("no [[images]] tables: add one per sample photo")
        raise ManifestError(f"{path}: " + "; ".join(problems))
    base = path.parent
    cases: list[ImageCase] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"[[images]] #{index + 1}: must be a table")
            continue
        label = _label(index, entry)
        entry_problems = _entry_problems(entry, base)
        if isinstance(entry.get("file"), str):
            if entry["file"] in seen:
                entry_problems.append("duplicate file name: each photo is listed once")
            seen.add(entry["file"])
        if entry_problems:
            problems.extend(f"{label}: {p}" for p in entry_problems)
            continue
        cases.append(
            ImageCase(
                file=entry["file"],
                media_type=entry["media_type"],
                status=entry["status"],
                error=entry["error"],
                faces=entry["faces"],
                specs=tuple(entry["specs"]),
                background=entry["background"],
                source=entry["source"],
                licence=entry["licence"],
                description=entry["description"],
                path=base / entry["file"],
                derived_from=entry.get("derived_from"),
                also_correct=tuple(entry.get("also_correct", [])),
                rule=entry.get("rule", ""),
            )
        )
    if problems:
        raise ManifestError(f"{path} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return cases
