"""The contract suites' parameters, from data: the image manifest and ``postdeploy/cases/*.toml``.

Plain functions returning ``(id, values)`` pairs, so both the postdeploy suite and the
predeploy local-app tests parametrize over the same cases (each wraps them in
``pytest.param``); this module does not import pytest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_pipeline.postdeploy.manifest import load_manifest
from pytest_pipeline.postdeploy.probes import load_cases

__all__ = [
    "background_cases",
    "cors_paths",
    "denied_origins",
    "email_cases",
    "error_cases",
    "manifest_cases",
    "photo_cases",
    "sample_photo",
]

Param = tuple[str, tuple[Any, ...]]


def manifest_cases(manifest: Path) -> list[Any]:
    """Every entry of the image manifest (empty when the file does not exist)."""
    if not manifest.is_file():
        return []

    return list(load_manifest(manifest))


def photo_cases(manifest: Path) -> list[Param]:
    """``(case, spec_id)`` for every manifest photo and each spec it is tried with."""
    return [
        (f"{case.file}-{spec_id}", (case, spec_id))
        for case in manifest_cases(manifest)
        for spec_id in (case.specs or ["us"])
    ]


def background_cases(manifest: Path) -> list[Param]:
    """Manifest photos that say what ``/api/v1/background`` must do with them."""
    return [
        (case.file, (case,))
        for case in manifest_cases(manifest)
        if getattr(case, "background", None) is not None
    ]


def sample_photo(manifest: Path) -> Path | None:
    """A manifest photo the service must accept (one face, HTTP 200), or None."""
    for case in manifest_cases(manifest):
        if case.status == 200 and case.faces == 1:
            return Path(case.path)
    return None


def email_cases() -> list[Param]:
    """``(email, valid, normalised)`` per case of ``cases/emails.toml``, id ``group-id``."""
    params: list[Param] = []
    for group, cases in load_cases("emails").items():
        for case in cases:
            valid = bool(case.get("valid", group == "valid"))
            values = (case["email"], valid, case.get("normalised"))
            params.append((f"{group}-{case['id']}", values))
    return params


def error_cases() -> list[Param]:
    """Each request of ``cases/errors.toml``."""
    return [(case["id"], (case,)) for case in load_cases("errors")["case"]]


def cors_paths() -> list[Param]:
    """``(path_case,)`` for each path a browser calls, from ``cases/cors.toml``."""
    return [(p["id"], (p,)) for p in load_cases("cors")["paths"]]


def denied_origins() -> list[Param]:
    """``(origin,)`` for each origin that must be refused, from ``cases/cors.toml``."""
    return [(d["id"], (d["origin"],)) for d in load_cases("cors")["denied"]]
