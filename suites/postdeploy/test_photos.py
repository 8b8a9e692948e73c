"""POST /api/v1/photos and /api/v1/background for every manifest photo, pictures judged.

Every rule of the contract's photo output is its own test with its own message: the
answer (status, error code, JSON shape, size), one upright face, centring, head height,
white background. One request per photo and spec serves them all (``photo_probe``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("images", "the photo checks")

from pytest_pipeline.postdeploy.casedata import background_cases, photo_cases  # noqa: E402
from pytest_pipeline.postdeploy.http import ServiceClient  # noqa: E402
from pytest_pipeline.postdeploy.images import PHOTO_RULES  # noqa: E402
from pytest_pipeline.postdeploy.photoprobes import probe_background  # noqa: E402
from pytest_pipeline.postdeploy.probes import Probe  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[2] / "test_images" / "manifest.toml"
CASES = photo_cases(MANIFEST)
PHOTOS = [pytest.param(*v, id=i) for i, v in CASES]
SUCCESSES = [pytest.param(*v, id=i) for i, v in CASES if v[0].ok]


def _verdict(probe: Probe, rule: str, case: Any) -> None:
    """Fail with ``rule``'s problems (naming the rule and the sample's rule), else pass."""
    if rule not in probe.rules:
        pytest.skip(probe.unjudged or f"{rule} not judged")
    problems = probe.rules[rule]
    if problems:
        named = f"[{PHOTO_RULES.get(rule, 'the answer the manifest expects')}]"
        if case.rule:
            named += f" [sample: {case.rule}]"
        pytest.fail(f"{named}\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize(("case", "spec_id"), PHOTOS)
def test_photo_answer(photo_probe: Any, case: Any, spec_id: str, contract_record: Any) -> None:
    """Status and error code as the manifest says; for successes the JSON shape and size."""
    probe = photo_probe(case, spec_id)
    if probe.response is not None:
        contract_record.figure("latency_ms", round(probe.response.elapsed_ms, 1), "ms")
    if probe.pictures:
        contract_record.side_by_side(f"{case.file} as spec {spec_id}", probe.pictures)
    _verdict(probe, "answer", case)


@pytest.mark.parametrize(("case", "spec_id"), SUCCESSES)
def test_photo_one_face(photo_probe: Any, case: Any, spec_id: str) -> None:
    """Exactly one upright face in the output, found by the suite's own detector."""
    _verdict(photo_probe(case, spec_id), "one_face", case)


@pytest.mark.parametrize(("case", "spec_id"), SUCCESSES)
def test_photo_centred(photo_probe: Any, case: Any, spec_id: str) -> None:
    """The face horizontally centred within 5% of the width."""
    _verdict(photo_probe(case, spec_id), "centred", case)


@pytest.mark.parametrize(("case", "spec_id"), SUCCESSES)
def test_photo_head_height(photo_probe: Any, case: Any, spec_id: str) -> None:
    """Head height, crown to chin, within the spec's head_ratio of the photo height."""
    _verdict(photo_probe(case, spec_id), "head_height", case)


@pytest.mark.parametrize(("case", "spec_id"), SUCCESSES)
def test_photo_background_white(photo_probe: Any, case: Any, spec_id: str) -> None:
    """The background, above the crown and beside the head, near white."""
    _verdict(photo_probe(case, spec_id), "background", case)


@pytest.mark.parametrize("case", [pytest.param(*v, id=i) for i, v in background_cases(MANIFEST)])
def test_background(service: ServiceClient, case: Any, contract_record: Any) -> None:
    """RGBA PNG, border transparent, face region opaque (or a 4xx error as the manifest says)."""
    probe = probe_background(
        service,
        Path(case.path),
        case.media_type,
        bool(case.background),
        case.faces == 1 and case.ok,
    )
    if probe.pictures:
        contract_record.side_by_side(f"{case.file} background removed", probe.pictures)
    assert probe.ok, probe.explain()
