"""Running the jobs of ``deploy.yml`` here as GitHub Actions runs them: each job in a fresh
checkout, its own process, with only what the workflow passes between jobs (``needs.*``
outputs, artifacts) and the job's and workflow's ``env``.

``${{ }}`` expressions are evaluated by a small evaluator of the GitHub Actions expression
syntax the workflow uses (contexts, property access, string/boolean literals, ``==``,
``!=``, ``!``, ``&&``, ``||`` with their JavaScript-like results, parentheses).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|\.)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read expression {text!r} at {text[pos:]!r}")
        out.append(match.group(match.lastgroup or "name"))
        pos = match.end()
    return out


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of one expression (without ``${{ }}``)."""
    tokens = _tokens(expression)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary() -> Any:
        token = take()
        if token == "(":
            value = either()
            assert take() == ")", expression
            return value
        if token == "!":
            return not _truthy(primary())
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        value: Any = context.get(token)
        while peek() == ".":
            take()
            key = take()
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def compare() -> Any:
        left = primary()
        while peek() in ("==", "!="):
            op = take()
            right = primary()
            same = _text(left).lower() == _text(right).lower()
            left = same if op == "==" else not same
        return left

    def both() -> Any:
        left = compare()
        while peek() == "&&":
            take()
            right = compare()
            left = right if _truthy(left) else left
        return left

    def either() -> Any:
        left = both()
        while peek() == "||":
            take()
            right = both()
            left = left if _truthy(left) else right
        return left

    value = either()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos]!r} in {expression!r}")
    return value


def substitute(value: Any, context: Mapping[str, Any]) -> str:
    """A workflow value with every ``${{ }}`` replaced, as the runner passes it (a string)."""
    text = _text(value)
    whole = _EXPR.fullmatch(text.strip())
    if whole:
        return _text(evaluate(whole.group(1), context))
    return _EXPR.sub(lambda m: _text(evaluate(m.group(1), context)), text)


def read_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` lines (``name=value`` and ``name<<DELIM`` heredocs)."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@dataclass
class JobRun:
    """What one job did: its outputs, its steps' outputs, the pytest step's result."""

    job: str
    ran: bool
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    checkout: Path | None = None


@dataclass
class Runner:
    """Runs the jobs of one workflow run in order.

    ``checkout`` makes a fresh copy of the repository for a job; ``aws_env`` stands in for
    the OIDC credentials step (the endpoint of the AWS the jobs share); ``event`` is the
    ``github`` context.
    """

    workflow: Mapping[str, Any]
    checkout: Callable[[str], Path]
    aws_env: Mapping[str, str]
    github: Mapping[str, Any]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    jobs: dict[str, JobRun] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    artifact_root: Path = Path("artifacts")

    def context(self, steps: Mapping[str, Any] | None = None) -> dict[str, Any]:
        base = {"github": self.github, "inputs": self.inputs, "secrets": {}}
        return {
            **base,
            # no secrets here: a secret the repository does not set is an empty string
            "env": {k: substitute(v, base) for k, v in (self.workflow.get("env") or {}).items()},
            "needs": {
                name: {"outputs": run.outputs, "result": "success" if run.ran else "skipped"}
                for name, run in self.jobs.items()
            },
            "steps": steps or {},
        }

    def run(self, job: str) -> JobRun:
        """Run ``job`` (its ``if`` decides whether), after the jobs it needs."""
        spec = self.workflow["jobs"][job]
        needs = spec.get("needs") or []
        missing = [n for n in ([needs] if isinstance(needs, str) else needs) if n not in self.jobs]
        assert not missing, f"{job} needs {missing} to have run first"
        context = self.context()
        condition = spec.get("if")
        if condition is not None and not _truthy(evaluate(_bare(condition), context)):
            self.jobs[job] = JobRun(job, ran=False)
            return self.jobs[job]
        root = self.checkout(job)
        env = {**context["env"]}
        env.update({k: substitute(v, context) for k, v in (spec.get("env") or {}).items()})
        steps: dict[str, Any] = {}
        result = JobRun(job, ran=True, env=env, checkout=root)
        for step in spec["steps"]:
            step_context = {**self.context(steps), "env": env}
            if "if" not in step and result.returncode not in (None, 0):
                continue  # after a failed step only `if: always()` steps run
            if "if" in step and not _step_condition(step["if"], step_context):
                continue
            uses = str(step.get("uses", ""))
            with_ = {k: substitute(v, step_context) for k, v in (step.get("with") or {}).items()}
            if uses.startswith("actions/upload-artifact@"):
                self._upload(root, with_)
            elif uses.startswith("actions/download-artifact@"):
                source = self.artifacts[with_["name"]]  # KeyError: never uploaded
                shutil.copytree(source, root / with_.get("path", "."), dirs_exist_ok=True)
            elif "run" in step and str(step["run"]).startswith("pytest"):
                step_env = {k: substitute(v, step_context) for k, v in step.get("env", {}).items()}
                outputs = self._pytest(root, str(step["run"]), {**env, **step_env}, result)
                if "id" in step:
                    steps[step["id"]] = {"outputs": outputs}
            elif "run" in step and step.get("id"):
                step_env = {k: substitute(v, step_context) for k, v in step.get("env", {}).items()}
                steps[step["id"]] = {"outputs": self._shell(root, str(step["run"]), step_env)}
            # checkout, setup-python, the install and the credentials step: done by the
            # test's checkout and aws_env; SARIF upload: not here
        final_context = {**self.context(steps), "env": env}
        result.outputs = {
            k: substitute(v, final_context) for k, v in (spec.get("outputs") or {}).items()
        }
        self.jobs[job] = result
        return result

    def _upload(self, root: Path, with_: Mapping[str, str]) -> None:
        source = root / with_["path"]
        if not source.exists():
            return  # upload-artifact warns and uploads nothing
        target = self.artifact_root / with_["name"]
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        self.artifacts[with_["name"]] = target

    def _shell(self, root: Path, script: str, env: Mapping[str, str]) -> dict[str, str]:
        output = root / ".github_output_shell"
        output.write_text("")
        subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env,
                 "GITHUB_OUTPUT": str(output)},
            check=True,
            timeout=60,
        )  # fmt: skip
        return read_outputs(output)

    def _pytest(
        self, root: Path, command: str, env: Mapping[str, str], result: JobRun
    ) -> dict[str, str]:
        output = root / ".github_output"
        output.write_text("")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "GITHUB_"))}
        base.pop("PYTEST_ADDOPTS", None)
        job_env = {**base, **env, **_aws(env, self.aws_env)}
        job_env.update(
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(output),
            GITHUB_STEP_SUMMARY=str(root / ".github_step_summary"),
            PYTEST_ADDOPTS="-p no:cacheprovider",
        )
        argv = [sys.executable, "-m", *command.split()]
        done = subprocess.run(
            argv, cwd=root, env=job_env, capture_output=True, text=True, timeout=600
        )
        result.returncode, result.stdout = done.returncode, done.stdout + done.stderr
        return read_outputs(output)


def _aws(env: Mapping[str, str], stand_in: Mapping[str, str]) -> dict[str, str]:
    """The credentials step's stand-in: a job that says ``aws`` gets the shared endpoint."""
    if env.get("PIPELINE_AWS_BACKEND") == "aws":
        return {**stand_in, "PIPELINE_AWS_BACKEND": "endpoint"}
    return {}


def _bare(condition: Any) -> str:
    text = str(condition).strip()
    whole = _EXPR.fullmatch(text)
    return whole.group(1) if whole else text


def _step_condition(condition: Any, context: Mapping[str, Any]) -> bool:
    text = _bare(condition)
    if "hashFiles(" in text:
        return False  # only the SARIF upload uses it
    text = text.replace("always()", "true")
    return _truthy(evaluate(text, context))
