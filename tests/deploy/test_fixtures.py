"""The deploy fixtures in real pytest runs (pytester, in subprocesses: moto and boto3 inside)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TINYAPP = Path(__file__).with_name("tinyapp")


def test_target_url_means_nothing_is_deployed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_url="""
        def test_url(target_url):
            assert target_url == "http://127.0.0.1:9/base"

        def test_deployment(deployment):
            raise AssertionError("must be skipped")

        def test_bundle(bundle):
            raise AssertionError("must be skipped")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--target-url", "http://127.0.0.1:9/base/", "-rs"
    )
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*--target-url given: nothing is bundled*"])
    assert not list(pytester.path.rglob("*.zip")), "a bundle was built"


@pytest.mark.slow
def test_deployed_once_under_xdist_and_torn_down(pytester: pytest.Pytester) -> None:
    # Relative paths only: an absolute argument outside makes pytest pick another rootdir.
    shutil.copytree(TINYAPP, pytester.path / "tinyapp")
    shutil.copytree(ROOT / "infra", pytester.path / "infra")
    pytester.makepyprojecttoml('[tool.pytest-pipeline]\nenv = "dev"\n')
    pytester.makepyfile(
        test_deploy="""
        import json, os
        import pytest

        @pytest.mark.deploy
        @pytest.mark.parametrize("n", range(4))
        def test_same_deployment(n, deployment, deploy_target, target_url, tmp_path_factory):
            assert deploy_target.current_version() == deployment.version_label
            assert target_url == deployment.url
            out = tmp_path_factory.getbasetemp().parent.parent / f"seen-{n}.json"
            out.write_text(json.dumps({
                "label": deployment.version_label,
                "versions": deploy_target.versions(),
                "url": deploy_target.url,
                "environments": deploy_target.inventory(),
                "worker": os.environ.get("PYTEST_XDIST_WORKER"),
            }))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--aws-backend",
        "moto",
        "--app-dir",
        "tinyapp",
        timeout=240,
    )
    result.assert_outcomes(passed=4)
    seen = [json.loads(p.read_text()) for p in pytester.path.parent.rglob("seen-*.json")]
    assert len(seen) == 4 and len({s["worker"] for s in seen}) == 2
    assert len({s["label"] for s in seen}) == 1
    assert all(s["versions"] == [seen[0]["label"]] for s in seen), seen  # deployed once
    assert len({s["url"] for s in seen}) == 1 and seen[0]["url"] == seen[0]["url"].rstrip("/")
    assert all(len(s["environments"]) == 1 for s in seen), seen  # no clone, nothing else
    # torn down: the stack went with its environment, nothing answers at its URL any more
    with pytest.raises(requests.ConnectionError):
        requests.get(seen[0]["url"] + "/health", timeout=5)
    record = json.loads((pytester.path / "reports" / "deployment.json").read_text())
    assert record["version_label"] == seen[0]["label"]
