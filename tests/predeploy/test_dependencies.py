"""Requirement parsing, pinning and the compatibility rules (offline, pure functions)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from pytest_pipeline.predeploy import dependencies as deps

PY311 = Version("3.11")
ENV = deps.target_environment(PY311)


def rules_of(text: str, python: Version = PY311) -> list[str]:
    parsed = deps.parse_text(text, "requirements.txt")
    found = deps.pin_findings(parsed.entries, deps.target_environment(python))
    found += deps.compat_findings(parsed.entries, python)
    return sorted(f.rule_id for f in parsed.findings + found)


def test_parse_includes_markers_extras_hashes_and_continuations(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("flask==3.1.3\n-c constraints.txt\n")
    (tmp_path / "constraints.txt").write_text("requests==2.32.3\n")
    (tmp_path / "requirements.txt").write_text(
        "-r base.txt  # shared pins\n"
        "numpy==1.26.4 \\\n    --hash=sha256:aaa \\\n    --hash sha256:bbb\n"
        'rembg[cpu]==2.0.67 ; python_version >= "3.10"\n'
        "requests\n"
        "--index-url https://pypi.org/simple\n"
    )
    parsed = deps.parse_file(tmp_path / "requirements.txt", root=tmp_path)
    by_name = {(e.name, e.constraint): e for e in parsed.entries}
    assert not parsed.findings
    assert by_name[("flask", False)].source == "base.txt"
    assert by_name[("numpy", False)].hashes == ("sha256:aaa", "sha256:bbb")
    assert by_name[("numpy", False)].line == 2
    assert by_name[("rembg", False)].requirement.extras == {"cpu"}
    assert by_name[("requests", True)].pinned_version == Version("2.32.3")
    # requests is unpinned in the file but pinned by the constraints file
    assert deps.pin_findings(parsed.entries, ENV) == []


def test_unpinned_and_loose_pins_are_reported_with_file_and_line() -> None:
    parsed = deps.parse_text("flask\nrequests>=2\nboto3==1.*\nsix==1.17.0\n", "app/req.txt")
    found = deps.pin_findings(parsed.entries, ENV)
    assert [(f.rule_id, f.location, f.line) for f in found] == [
        ("PIPE-DEP-001", "app/req.txt", 1),
        ("PIPE-DEP-002", "app/req.txt", 2),
        ("PIPE-DEP-002", "app/req.txt", 3),
    ]
    assert "flask==X.Y.Z" in found[0].fix


def test_marker_that_excludes_the_runtime_is_not_checked() -> None:
    assert rules_of('legacy ; python_version < "3"\nsix==1.17.0\n') == []


def test_malformed_lines_and_missing_includes_are_findings(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("flask===\n-r missing.txt\n-e .\n")
    parsed = deps.parse_file(tmp_path / "r.txt", root=tmp_path)
    assert [f.rule_id for f in parsed.findings] == ["PIPE-DEP-000", "PIPE-DEP-000", "PIPE-DEP-002"]
    assert "missing.txt" in parsed.findings[1].message


def test_compat_numpy2_with_old_opencv() -> None:
    bad = "numpy==2.0.0\nopencv-python-headless==4.9.0.80\n"
    good = "numpy==2.0.0\nopencv-python-headless==4.10.0.84\n"
    assert rules_of(bad) == ["PIPE-COMPAT-001"]
    assert rules_of(good) == []


def test_compat_opencv5_lacks_haar_cascades() -> None:
    found = deps.compat_findings(
        deps.parse_text("opencv-python-headless==5.0.0\n", "r.txt").entries, PY311
    )
    assert [f.rule_id for f in found] == ["PIPE-COMPAT-002"]
    assert "Haar" in found[0].message and "CascadeClassifier" in found[0].message
    assert rules_of("opencv-python-headless==4.14.0.94\n") == []


def test_compat_rules_depend_on_the_runtime_python() -> None:
    assert rules_of("numpy==1.21.6\n") == ["PIPE-COMPAT-005"]
    assert rules_of("numpy==1.21.6\n", Version("3.10")) == []
    assert rules_of("rembg[cpu]==2.0.50\n", Version("3.12")) == ["PIPE-COMPAT-011"]
    assert rules_of("rembg[cpu]==2.0.50\n", PY311) == []
    assert rules_of("onnxruntime==1.14.1\n") == ["PIPE-COMPAT-008"]


def test_compat_rembg_needs_an_onnx_runtime() -> None:
    assert rules_of("rembg==2.0.67\n") == ["PIPE-COMPAT-013"]
    assert rules_of("rembg[cpu]==2.0.67\n") == []
    assert rules_of("rembg==2.0.67\nonnxruntime==1.20.1\n") == []


def test_compat_two_opencv_distributions() -> None:
    text = "opencv-python==4.10.0.84\nopencv-python-headless==4.10.0.84\n"
    assert rules_of(text) == ["PIPE-COMPAT-003", "PIPE-COMPAT-004"]


def test_every_shipped_rule_has_a_reason_and_a_fix() -> None:
    runtime, rules = deps.default_rules()
    assert runtime.python == PY311 and runtime.reason
    assert len({r.id for r in rules}) == len(rules) >= 10
    for rule in rules:
        assert rule.reason and rule.fix and rule.when


def test_runtime_python_from_templates_and_fallback(tmp_path: Path) -> None:
    assert deps.runtime_python(tmp_path, tmp_path / "app") == (
        PY311,
        "compat_rules.toml (64bit Amazon Linux 2023 running Python 3.11)",
    )
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "t.yaml").write_text(
        "SolutionStackName: 64bit Amazon Linux 2023 v4.3.0 running Python 3.12\n"
    )
    assert deps.runtime_python(tmp_path, tmp_path / "app") == (Version("3.12"), "infra/t.yaml")


def test_requires_python_must_admit_the_runtime(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.12"\n')
    found = deps.requires_python_findings(tmp_path, PY311, "infra/t.yaml")
    assert [f.rule_id for f in found] == ["PIPE-DEP-004"]
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.11"\n')
    assert deps.requires_python_findings(tmp_path, PY311, "infra/t.yaml") == []


# -- Property 2 -----------------------------------------------------------------------------

NEUTRAL = ["flask", "requests", "six", "boto3", "click", "jinja2", "gunicorn", "idna", "urllib3"]
# (lines, rule ids they must trigger on Python 3.11)
INCOMPATIBLE = [
    (["numpy==2.1.0", "opencv-python-headless==4.8.1.78"], {"PIPE-COMPAT-001"}),
    (["opencv-contrib-python-headless==5.0.1"], {"PIPE-COMPAT-002"}),
    (["numpy==1.22.4"], {"PIPE-COMPAT-005"}),
    (["rembg==2.0.66"], {"PIPE-COMPAT-013"}),
    (["onnxruntime==1.18.1", "numpy==2.0.2"], {"PIPE-COMPAT-010"}),
    (["pillow==9.1.1"], {"PIPE-COMPAT-014"}),
]
COMPATIBLE = [
    ["numpy==1.26.4", "opencv-python-headless==4.10.0.84"],
    ["numpy==2.4.6", "opencv-python-headless==4.14.0.94", "pillow==13.0.0"],
    ["rembg[cpu]==2.0.67", "onnxruntime==1.20.1", "numpy==2.1.3"],
]

versions = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)).map(
    lambda v: ".".join(map(str, v))
)
pin_kind = st.sampled_from(["exact", "none", ">=", "~=", "<", "wild", "range", "arbitrary"])
decor = st.sampled_from(
    ["", "  # pinned by hand", ' ; python_version >= "3.8"', " --hash=sha256:ab"]
)


def _line(name: str, kind: str, version: str, tail: str) -> str:
    spec = {
        "exact": f"=={version}",
        "arbitrary": f"==={version}",
        "none": "",
        ">=": f">={version}",
        "~=": f"~={version}",
        "<": f"<{version}",
        "wild": f"=={version.rsplit('.', 1)[0]}.*",
        "range": f">={version},<99",
    }[kind]
    return f"{name}{spec}{tail}"


@st.composite
def requirement_sets(draw: st.DrawFn) -> tuple[str, set[tuple[int, str]], set[str]]:
    names = draw(st.lists(st.sampled_from(NEUTRAL), unique=True, max_size=6))
    lines: list[str] = []
    expected_pins: set[tuple[int, str]] = set()
    for name in names:
        kind = draw(pin_kind)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# comment", "--only-binary=:all:"])))
        line = _line(name, kind, draw(versions), draw(decor))
        lines.append(line)
        if kind not in ("exact", "arbitrary"):
            rule = "PIPE-DEP-001" if kind == "none" else "PIPE-DEP-002"
            expected_pins.add((len(lines), rule))
    expected_compat: set[str] = set()
    if draw(st.booleans()):
        extra, rules = draw(st.sampled_from(INCOMPATIBLE))
        expected_compat |= rules
    else:
        extra = draw(st.sampled_from(COMPATIBLE))
    position = draw(st.integers(0, len(lines)))
    lines[position:position] = extra
    # Recompute expected lines after insertion.
    shifted = {(ln + len(extra) if ln > position else ln, r) for ln, r in expected_pins}
    return "\n".join(lines) + "\n", shifted, expected_compat


# Feature: ci-cd-pipeline, Property 2: every unpinned or incompatible entry is reported,
# every clean one passes
@settings(max_examples=150, deadline=None)
@given(requirement_sets())
def test_property_every_unpinned_or_incompatible_entry_is_reported(
    case: tuple[str, set[tuple[int, str]], set[str]],
) -> None:
    text, expected_pins, expected_compat = case
    parsed = deps.parse_text(text, "requirements.txt")
    assert parsed.findings == []
    pins = deps.pin_findings(parsed.entries, ENV)
    compat = deps.compat_findings(parsed.entries, PY311)
    assert {(f.line, f.rule_id) for f in pins} == expected_pins
    assert {f.rule_id for f in compat} == expected_compat
    if not expected_pins and not expected_compat:
        assert pins == [] and compat == []
