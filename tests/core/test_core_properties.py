"""Hypothesis properties of the core: configuration overlays, JSON round trips, backoff,
marker-expression analysis."""

from __future__ import annotations

import itertools
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.expression import Expression
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_pipeline.models import (
    DeploymentEvent,
    DeploymentMetadata,
    DeploymentStatus,
    InfrastructureState,
    StackStatus,
    TestOutcome,
    TestResult,
)
from pytest_pipeline.retry import Backoff, RetryError, retry, wait_until
from pytest_pipeline.settings import PipelineSettings, setting
from pytest_pipeline.stages import Stage, stage_may_be_selected

ENVS = ("dev", "staging", "prod")
REGIONS = st.sampled_from(["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"])
INSTANCE = st.sampled_from(["t3.small", "t3.medium", "m5.large", "c6g.xlarge"])
BUCKET = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
CHANNELS = st.lists(st.sampled_from(["sns", "webhook", "log"]), min_size=1, max_size=3)

# Values of the deployment settings, as a TOML table would hold them.
CONFIG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "aws-region": REGIONS,
    "instance-type": INSTANCE,
    "min-instances": st.integers(1, 4),
    "deployment-bucket": BUCKET,
    "notification-channels": CHANNELS,
    "rollback-enabled": st.booleans(),
    "monitoring-enabled": st.booleans(),
}


def _as_env_var(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


@st.composite
def layers(draw: st.DrawFn) -> dict[str, Any]:
    """A pyproject table with overlays, environment variables and flags."""

    def some() -> dict[str, Any]:
        keys = draw(st.sets(st.sampled_from(sorted(CONFIG_VALUES))))
        return {key: draw(CONFIG_VALUES[key]) for key in keys}

    table: dict[str, Any] = some()
    overlays = {env: some() for env in draw(st.sets(st.sampled_from(ENVS)))}
    if overlays:
        table["environments"] = overlays
    env_source = draw(st.sampled_from(["default", "table", "environ", "flag"]))
    env = draw(st.sampled_from(ENVS))
    environ = {f"PIPELINE_{k.upper().replace('-', '_')}": _as_env_var(v) for k, v in some().items()}
    flags = {k: (v if isinstance(v, list) else _as_env_var(v)) for k, v in some().items()}
    if env_source == "table":
        table["env"] = env
    elif env_source == "environ":
        environ["PIPELINE_ENV"] = env
    elif env_source == "flag":
        flags["env"] = env
    else:
        env = "dev"
    # max-instances >= the effective min-instances: add a margin on top of every layer's min
    biggest = max(
        [
            int(layer["min-instances"])
            for layer in [table, *overlays.values(), flags]
            if "min-instances" in layer
        ]
        + [int(environ.get("PIPELINE_MIN_INSTANCES", 1)), 1]
    )
    table["max-instances"] = biggest + draw(st.integers(0, 3))
    return {"table": table, "environ": environ, "flags": flags, "env": env}


def _expected(layer: dict[str, Any], name: str, default: Any) -> tuple[Any, str]:
    env = layer["env"]
    variable = f"PIPELINE_{name.upper().replace('-', '_')}"
    overlay = layer["table"].get("environments", {}).get(env, {})
    if name in layer["flags"]:
        return layer["flags"][name], f"--{name}"
    if variable in layer["environ"]:
        return layer["environ"][variable], f"env {variable}"
    if name in overlay:
        return overlay[name], f"pyproject [tool.pytest-pipeline.environments.{env}]"
    if name in layer["table"]:
        return layer["table"][name], "pyproject [tool.pytest-pipeline]"
    return default, "default"


def _resolve(layer: dict[str, Any]) -> PipelineSettings:
    return PipelineSettings.resolve(
        flags=layer["flags"],
        environ=layer["environ"],
        table=layer["table"],
        rootdir=Path("/project"),
    )


# Feature: ci-cd-pipeline, Property 5: any environment configuration yields valid settings
# whose every value follows flag > env var > environment overlay > table > default
@settings(max_examples=150, deadline=None)
@given(layer=layers())
def test_environment_configurations_give_valid_configs_with_overlay_semantics(
    layer: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    rootdir = Path("/project")
    config = _resolve(layer)
    assert config.env == layer["env"]
    defaults = {
        "aws-region": "us-east-1",
        "instance-type": "t3.small",
        "min-instances": 1,
        "deployment-bucket": None,
        "notification-channels": ["log"],
        "rollback-enabled": False,
        "monitoring-enabled": True,
    }
    for name in CONFIG_VALUES:
        raw, source = _expected(layer, name, defaults[name])
        assert config.sources[name] == source, name
        actual = getattr(config, setting(name).attr)
        if isinstance(actual, tuple):
            expected_list = raw.split(";") if isinstance(raw, str) else list(raw)
            assert list(actual) == expected_list, name
        elif isinstance(actual, bool):
            assert actual == (raw in (True, "true")), name
        else:
            assert str(actual) == str(raw) if raw is not None else actual is None, name
    assert config.max_instances >= config.min_instances >= 1
    assert config.template == rootdir / "infra/template.yaml"
    assert PipelineSettings.from_json(config.to_json()) == config


TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_:/.é", max_size=30)
NAME = st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20)
MOMENT = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
PROPS = st.dictionaries(
    NAME,
    st.one_of(
        TEXT,
        st.integers(-(10**6), 10**6),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
    max_size=4,
)
RESULTS = st.builds(
    TestResult,
    nodeid=st.text(min_size=1, max_size=40).filter(str.strip),
    outcome=st.sampled_from(TestOutcome),
    stage=st.one_of(st.none(), st.sampled_from([s.value for s in Stage])),
    duration=st.floats(0, 1e4, allow_nan=False),
    message=TEXT,
    properties=PROPS,
    started_at=st.one_of(st.none(), MOMENT),
)
STATES = st.builds(
    InfrastructureState,
    stack_name=NAME,
    region=NAME,
    status=st.sampled_from(StackStatus),
    backend=st.sampled_from(["moto", "endpoint", "aws"]),
    stack_id=st.one_of(st.none(), TEXT),
    endpoint_url=st.one_of(st.none(), TEXT),
    outputs=st.dictionaries(NAME, TEXT, max_size=3),
    resources=st.dictionaries(NAME, TEXT, max_size=3),
    tags=st.dictionaries(NAME, TEXT, max_size=3),
    not_modelled=st.lists(TEXT, max_size=3),
    created_at=st.one_of(st.none(), MOMENT),
)


@st.composite
def deployments(draw: st.DrawFn) -> DeploymentMetadata:
    started = draw(MOMENT)
    finished = draw(st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=2))))
    return DeploymentMetadata(
        environment=draw(st.sampled_from(ENVS)),
        version_label=draw(NAME),
        deploy_target=draw(st.sampled_from(["local", "elasticbeanstalk"])),
        status=draw(st.sampled_from(DeploymentStatus)),
        url=draw(st.one_of(st.none(), TEXT)),
        commit=draw(st.one_of(st.none(), st.text("0123456789abcdef", min_size=7, max_size=40))),
        previous_version=draw(st.one_of(st.none(), NAME)),
        rollback_reason=draw(st.one_of(st.none(), TEXT)),
        started_at=started,
        finished_at=None if finished is None else started + finished,
        events=draw(
            st.lists(st.builds(DeploymentEvent, timestamp=MOMENT, message=TEXT), max_size=3)
        ),
        stage_results=draw(
            st.dictionaries(
                st.sampled_from([s.value for s in Stage]), st.lists(RESULTS, max_size=2), max_size=2
            )
        ),
    )


@st.composite
def pipeline_settings(draw: st.DrawFn) -> PipelineSettings:
    """Settings resolved from random layers, with a random template and instance range."""
    resolved = _resolve(draw(layers()))
    return replace(
        resolved,
        template=Path("/project") / draw(NAME),
        max_instances=resolved.min_instances + draw(st.integers(0, 8)),
        deployment_bucket=draw(st.one_of(st.none(), BUCKET)),
    )


CONFIGS = pipeline_settings()


# Feature: ci-cd-pipeline, Property 5: every model survives a JSON round trip unchanged
@settings(max_examples=150, deadline=None)
@given(model=st.one_of(RESULTS, STATES, deployments(), CONFIGS))
def test_models_round_trip_through_json(model: Any) -> None:
    kind = type(model)
    assert kind.from_json(model.to_json()) == model
    assert kind.from_json(model.to_json(indent=None)).to_dict() == model.to_dict()


# Feature: ci-cd-pipeline, Property 5: each backoff delay lies in [0, min(cap, base*factor**n)]
@settings(max_examples=200)
@given(
    base=st.floats(0.001, 5),
    cap=st.floats(0.001, 60),
    factor=st.floats(1, 4),
    seed=st.integers(0, 2**32),
    count=st.integers(1, 80),
)
def test_backoff_delays_stay_within_bounds(
    base: float, cap: float, factor: float, seed: int, count: int
) -> None:
    import random

    backoff = Backoff(base=base, cap=cap, factor=factor)
    delays = list(itertools.islice(backoff.delays(random.Random(seed)), count))
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(cap, base * factor ** min(attempt, 64)) + 1e-12


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


# Feature: ci-cd-pipeline, Property 5: retry never waits past its deadline and reports it
@settings(max_examples=200)
@given(
    deadline=st.floats(0, 120),
    base=st.floats(0.01, 2),
    cap=st.floats(0.01, 30),
    succeed_after=st.one_of(st.none(), st.integers(0, 30)),
    seed=st.integers(0, 2**32),
)
def test_retry_respects_its_deadline(
    deadline: float, base: float, cap: float, succeed_after: int | None, seed: int
) -> None:
    import random

    clock = FakeClock()
    calls: list[float] = []

    def flaky() -> str:
        calls.append(clock.now)
        if succeed_after is None or len(calls) <= succeed_after:
            raise ConnectionError(f"refused #{len(calls)}")
        return "ok"

    try:
        value = retry(
            flaky,
            what="the health check",
            deadline=deadline,
            backoff=Backoff(base=base, cap=cap),
            sleep=clock.sleep,
            clock=clock,
            rng=random.Random(seed),
        )
    except RetryError as error:
        assert error.attempts == len(calls)
        assert isinstance(error.last_error, ConnectionError)
        assert str(error).startswith(f"gave up waiting for the health check after {len(calls)}")
        assert f"refused #{len(calls)}" in str(error)
        assert clock.now >= deadline or clock.now == pytest.approx(deadline)
    else:
        assert value == "ok"
        assert len(calls) == (succeed_after or 0) + 1
    assert clock.now <= deadline + 1e-9
    assert all(call <= deadline + 1e-9 for call in calls)


def test_wait_until_returns_the_probe_value_and_propagates_other_errors() -> None:
    clock = FakeClock()
    values = iter([None, 0, "", {"status": "ok"}])
    assert wait_until(
        lambda: next(values), what="x", deadline=10, sleep=clock.sleep, clock=clock
    ) == {"status": "ok"}
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], what="x", deadline=10, sleep=clock.sleep, clock=clock)


MARKS = ["predeploy", "infra", "deploy", "slow", "aws"]
EXPRESSIONS = st.recursive(
    st.sampled_from(MARKS),
    lambda inner: st.one_of(
        inner.map(lambda e: f"not {e}"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
    ),
    max_leaves=6,
)


# Feature: ci-cd-pipeline, Property 5: stage_may_be_selected says True exactly when some test
# of the stage (one stage marker, any other markers) matches the -m expression
@settings(max_examples=300)
@given(expression=EXPRESSIONS, stage=st.sampled_from([Stage.PREDEPLOY, Stage.INFRA, Stage.DEPLOY]))
def test_marker_expression_analysis_matches_pytest(expression: str, stage: Stage) -> None:
    compiled = Expression.compile(expression)
    others = ["slow", "aws"]
    possible = False
    for extra in itertools.product([False, True], repeat=len(others)):
        marks = {stage.value} | {name for name, on in zip(others, extra, strict=True) if on}
        if compiled.evaluate(lambda name, marks=marks, **kwargs: name in marks):
            possible = True
    assert stage_may_be_selected(expression, stage) is possible
