"""The HTML report in a real browser: headless Chromium renders the dashboard and the rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import DASHBOARD_FACTS, browser, not_blank


@pytest.mark.slow
def test_report_renders_dashboard_and_pictures(project: pytest.Pytester, tmp_path: Path) -> None:
    project.runpytest_subprocess().assert_outcomes(passed=3)
    url = (project.path / "reports" / "report.html").as_uri()
    with browser(tmp_path / "profile") as page:
        page.open(url)
        facts = page.evaluate(DASHBOARD_FACTS)
        assert facts["stages"] == [
            ["predeploy", "passed"],
            ["infra", "passed"],
            ["deploy", "passed"],
        ], facts
        assert facts["ledgerSteps"] == 7, facts
        # the gallery card's two thumbnails; the row's two photos and its histogram, from the store
        assert facts["gallery"] == 2 and facts["galleryDecoded"] == 2, facts
        assert facts["rowPictures"] == 3 and facts["rowPicturesDecoded"] == 3, facts
        assert facts["histogramShown"], facts
        assert facts["emptyLogs"] == 0, facts
        not_blank(page.screenshot("#pipeline-gallery"))
        not_blank(page.screenshot(".pipeline-dashboard-histogram"))
        not_blank(page.screenshot("#pipeline-stages"))
        # a thumbnail opens its full-size picture
        page.evaluate("document.querySelector('#pipeline-gallery a').click()")
        opened = page.evaluate(
            "(() => { const b = document.getElementById('pipeline-lightbox');"
            " const i = b.querySelector('img'); return [b.hidden, i.src.slice(0, 11)]; })()"
        )
        assert opened == [False, "data:image/"], opened
        shot = page.screenshot()
    assert not_blank(shot)
    (project.path / "reports" / "report.png").write_bytes(shot)  # kept for a person to look at
    shutil.copy(project.path / "reports" / "report.png", tmp_path / "report.png")
