"""Guard: the pictures of a real postdeploy run reach ``report.html`` (also under xdist).

The postdeploy suite runs for real against ``app/`` and its report is counted: every photo
case the manifest says succeeds has its side-by-side (input and output), every background
case its cut-out, the load test its histogram, and the dashboard a gallery card for each
side-by-side and the histogram. Pictures once vanished from the report without a test
noticing; this fails when any of them goes missing.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from browser import DASHBOARD_FACTS, browser, not_blank
from reportfile import Report, read_report

from pytest_pipeline.postdeploy.service import LocalApp

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "suites" / "postdeploy"
PHOTOS = "suites/postdeploy/test_photos.py"
LOAD_SUMMARY = "suites/postdeploy/test_under_load.py::test_load_summary"


def _manifest() -> dict[str, dict[str, object]]:
    data = tomllib.loads((ROOT / "test_images" / "manifest.toml").read_text(encoding="utf-8"))
    return {str(entry["file"]): entry for entry in data["images"]}


def _html(pytester: pytest.Pytester) -> Path:
    return pytester.path / "out" / "report.html"


def _run(pytester: pytest.Pytester, url: str, *args: str) -> Report:
    html = _html(pytester)
    result = pytester.runpytest_subprocess(
        str(SUITE),
        "--target-url",
        url,
        "-p",
        "no:cacheprovider",
        "--allowed-origin",
        "https://app.example.com",
        "--load-duration",
        "3",
        "--reports-dir",
        str(pytester.path / "out"),
        f"--html={html}",
        "--self-contained-html",
        f"--junitxml={pytester.path / 'out' / 'junit.xml'}",
        *args,
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    return read_report(html)


def _check_pictures(report: Report) -> None:
    manifest = _manifest()
    photo_rows = [n for n in report.rows if n.startswith(f"{PHOTOS}::test_photo_answer[")]
    background_rows = [n for n in report.rows if n.startswith(f"{PHOTOS}::test_background[")]
    side_by_sides = 0
    succeeding = 0
    for nodeid in photo_rows:
        file = re.sub(r"^.*\[(.+)-[a-z]+\]$", r"\1", nodeid)
        if manifest[file]["status"] != 200 or report.outcome(nodeid) != "Passed":
            continue
        succeeding += 1
        keys = report.pictures_of(nodeid, "pipeline-side-by-side")
        assert len(keys) >= 2, f"{nodeid}: {len(keys)} pictures in the report, want input+output"
        side_by_sides += 1
    cut_outs = 0
    for nodeid in background_rows:
        file = nodeid.rsplit("[", 1)[1][:-1]
        if manifest[file].get("background") is not True:
            continue
        keys = report.pictures_of(nodeid, "pipeline-side-by-side")
        assert len(keys) >= 2, f"{nodeid}: {len(keys)} pictures, want the input and the cut-out"
        cut_outs += 1
    # not vacuous: the manifest has a dozen successful photos and background cases
    assert succeeding >= 10 and cut_outs >= 8, (succeeding, cut_outs)
    assert report.pictures_of(LOAD_SUMMARY, "pipeline-histogram"), "no load histogram"
    assert report.count('class="pipeline-card"') == side_by_sides + cut_outs
    assert report.count('class="pipeline-dashboard-histogram"') == 1
    assert report.count('class="pipeline-thumb"') >= 2 * (side_by_sides + cut_outs)


@pytest.mark.slow
def test_every_picture_reaches_the_report(
    pytester: pytest.Pytester, reference_app: LocalApp
) -> None:
    _check_pictures(_run(pytester, reference_app.url))
    if not shutil.which("chromium"):
        return  # CI installs it; the browser half is in tests/reporting/test_screenshot.py too
    with browser(pytester.path / "profile") as page:
        page.open(_html(pytester).as_uri(), settle_s=2.0)
        facts = page.evaluate(DASHBOARD_FACTS)
        assert facts["stages"] == [["postdeploy", "passed"]], facts
        assert facts["gallery"] >= 36 and facts["galleryDecoded"] == facts["gallery"], facts
        assert facts["rowPicturesDecoded"] == facts["rowPictures"] >= 36, facts
        assert facts["histogramShown"] and facts["emptyLogs"] == 0, facts
        not_blank(page.screenshot("#pipeline-gallery"), min_stddev=25)


@pytest.mark.slow
def test_every_picture_reaches_the_report_under_xdist(
    pytester: pytest.Pytester, reference_app: LocalApp
) -> None:
    pytest.importorskip("xdist")
    _check_pictures(_run(pytester, reference_app.url, "-n", "2", "--dist", "loadgroup"))
