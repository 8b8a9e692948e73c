"""The HTML report in a real browser: headless Chromium at desktop width."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed: apt-get install -y chromium (CI installs it)")


def _browse(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_report_renders_summary_and_pictures(project: pytest.Pytester, tmp_path: Path) -> None:
    browser = _chromium()
    project.runpytest_subprocess().assert_outcomes(passed=3)
    url = (project.path / "reports" / "report.html").as_uri()
    shot = tmp_path / "report.png"
    done = _browse(browser, tmp_path / "profile", f"--screenshot={shot}", url)
    assert shot.is_file(), f"chromium wrote no screenshot: {done.stderr[-2000:]}"
    image = Image.open(shot).convert("L")
    assert image.size == (1440, 1000)
    assert max(ImageStat.Stat(image).stddev) > 10, "the screenshot is blank"
    dom = _browse(browser, tmp_path / "profile2", "--dump-dom", url).stdout
    assert 'id="pipeline-summary"' in dom and "Pipeline run:" in dom
    assert 'data-stage="infra" data-outcome="passed"' in dom
    assert "<img " in dom and "pipeline-side-by-side" in dom and "pipeline-histogram" in dom
    shutil.copy(shot, project.path / "reports" / "report.png")  # kept for a person to look at
