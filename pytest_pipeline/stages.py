"""The pipeline's stages, their order and the gate between them (pure logic, no pytest).

A test belongs to at most one stage: its stage marker, or the ``suites/<stage>/`` folder it
lives in. The gate halts the pipeline: once a test of stage S failed, every test of a later
stage is skipped with the reason :meth:`Halt.reason`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any


class Stage(Enum):
    """A pipeline stage; the enum's order is the pipeline's order."""

    PREDEPLOY = "predeploy"
    INFRA = "infra"
    DEPLOY = "deploy"
    POSTDEPLOY = "postdeploy"
    MONITORING = "monitoring"

    @property
    def order(self) -> int:
        """1 for predeploy ... 5 for monitoring."""
        return _ORDER[self]

    @property
    def description(self) -> str:
        """One line: what the stage proves (shown by ``pytest --markers``)."""
        return _DESCRIPTIONS[self]

    @classmethod
    def from_name(cls, name: str) -> Stage:
        """The stage called ``name`` (ValueError naming the stages otherwise)."""
        try:
            return cls(name)
        except ValueError:
            names = ", ".join(stage.value for stage in cls)
            raise ValueError(f"unknown stage {name!r} (stages: {names})") from None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Stage):
            return NotImplemented
        return self.order < other.order


_ORDER = {stage: index for index, stage in enumerate(Stage, start=1)}
_DESCRIPTIONS = {
    Stage.PREDEPLOY: "stage 1: code, dependencies, templates and the app are fit to ship",
    Stage.INFRA: "stage 2: the CloudFormation stack exists, is configured and is secure",
    Stage.DEPLOY: "stage 3: the bundle is built, uploaded and running as a new version",
    Stage.POSTDEPLOY: "stage 4: the running service is healthy, correct, fast and safe",
    Stage.MONITORING: "stage 5: metrics, alarms, logs and notifications are in place",
}
STAGE_NAMES: frozenset[str] = frozenset(stage.value for stage in Stage)
SUITES_DIR = "suites"


class StageConflictError(ValueError):
    """A test carries more than one stage marker."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages
        names = ", ".join(stage.value for stage in stages)
        super().__init__(f"a test belongs to one stage, this one is marked {names}")


def stage_of_markers(names: Iterable[str]) -> Stage | None:
    """The stage named among marker ``names`` (None if none; error if several)."""
    found = sorted({Stage(name) for name in names if name in STAGE_NAMES})
    if len(found) > 1:
        raise StageConflictError(found)
    return found[0] if found else None


def stage_from_path(path: PurePath | str) -> Stage | None:
    """The stage of a file under ``suites/<stage>/`` (the innermost ``suites`` folder)."""
    parts = PurePath(path).parts
    for index in range(len(parts) - 2, -1, -1):
        # suites/<stage> must be a folder (index + 2 exists), not a file called "deploy"
        if (
            parts[index] == SUITES_DIR
            and parts[index + 1] in STAGE_NAMES
            and index + 2 < len(parts)
        ):
            return Stage(parts[index + 1])
    return None


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped (``""`` for none)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


# -- the gate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Halt:
    """The failure that halts later stages."""

    stage: Stage
    nodeid: str
    message: str

    def reason(self) -> str:
        """The skip reason of every later-stage test."""
        return f"pipeline halted: {self.stage.value} failed ({self.nodeid}: {self.message})"


class Gate:
    """The gate's state machine: open until a stage fails, then halted for later stages.

    Failures are recorded per stage (the first one of a stage is the one named); the halt
    that applies to a stage-S test is the failure of the earliest stage before S.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._failures: dict[Stage, Halt] = {}

    def record_failure(self, stage: Stage, nodeid: str, message: str) -> None:
        """Note that a stage-``stage`` test failed (the first failure per stage is kept)."""
        if stage not in self._failures:
            self._failures[stage] = Halt(stage, nodeid, first_line(message) or "failed")

    def failed_stages(self) -> list[Stage]:
        """Stages with at least one failure, in pipeline order."""
        return sorted(self._failures)

    def failure(self, stage: Stage) -> Halt | None:
        """The first recorded failure of ``stage``."""
        return self._failures.get(stage)

    def halt_for(self, stage: Stage) -> Halt | None:
        """The halt that stops a test of ``stage``, or None when it may run."""
        if not self.enabled or not self._failures:
            return None
        earlier = [failed for failed in self._failures if failed < stage]
        return self._failures[min(earlier)] if earlier else None

    @property
    def halted(self) -> Halt | None:
        """The earliest stage failure of the run, if any (whether or not the gate is on)."""
        return self._failures[min(self._failures)] if self._failures else None


# -- "-m" expressions ---------------------------------------------------------------------------

_IDENT = r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+"
# marker(kwarg=value, ...) is one token: its match depends on the arguments
_TOKEN = re.compile(rf"\s*(?:((?!(?:and|or|not)\b){_IDENT}\s*\([^()]*\))|(\()|(\))|({_IDENT}))")
Node = tuple[Any, ...]
"""("or", a, b) | ("and", a, b) | ("not", a) | ("const", bool) | ("var", name)"""
MAX_FREE_MARKERS = 12  # beyond that, answer "maybe" instead of trying 2**n assignments


class _Parser:
    """A parser of pytest marker expressions into a small tree, for one stage."""

    def __init__(self, expression: str, stage: Stage) -> None:
        self.tokens = self._tokenize(expression)
        self.position = 0
        self.stage = stage

    @staticmethod
    def _tokenize(expression: str) -> list[str]:
        tokens: list[str] = []
        position = 0
        expression = expression.strip()
        while position < len(expression):
            match = _TOKEN.match(expression, position)
            if not match or match.end() == position:
                raise ValueError(f"unexpected character at {position} in {expression!r}")
            tokens.append(match.group(match.lastindex or 0))
            position = match.end()
            while position < len(expression) and expression[position].isspace():
                position += 1
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("unexpected end of expression")
        self.position += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            return ("const", True)
        tree = self._or()
        if self._peek() is not None:
            raise ValueError(f"unexpected {self._peek()!r}")
        return tree

    def _or(self) -> Node:
        tree = self._and()
        while self._peek() == "or":
            self._take()
            tree = ("or", tree, self._and())
        return tree

    def _and(self) -> Node:
        tree = self._not()
        while self._peek() == "and":
            self._take()
            tree = ("and", tree, self._not())
        return tree

    def _not(self) -> Node:
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        return self._atom()

    def _atom(self) -> Node:
        token = self._take()
        if token == "(":
            tree = self._or()
            if self._take() != ")":
                raise ValueError("missing ')'")
            return tree
        if token in (")", "and", "or", "not"):
            raise ValueError(f"unexpected {token!r}")
        name = token.split("(", 1)[0].strip()
        if name in STAGE_NAMES and name != self.stage.value:
            return ("const", False)  # a test has one stage marker
        if name == self.stage.value and "(" not in token:
            return ("const", True)
        # another marker, or the stage marker with arguments: either value is possible
        return ("var", token)


def _variables(tree: Node) -> set[str]:
    if tree[0] == "var":
        return {tree[1]}
    if tree[0] == "const":
        return set()
    return set().union(*(_variables(child) for child in tree[1:]))


def _evaluate(tree: Node, values: dict[str, bool]) -> bool:
    kind = tree[0]
    if kind == "const":
        return bool(tree[1])
    if kind == "var":
        return values[tree[1]]
    if kind == "not":
        return not _evaluate(tree[1], values)
    if kind == "and":
        return _evaluate(tree[1], values) and _evaluate(tree[2], values)
    return _evaluate(tree[1], values) or _evaluate(tree[2], values)


def stage_may_be_selected(markexpr: str, stage: Stage) -> bool:
    """Could ``-m markexpr`` select any test of ``stage``? (Unknown markers may be either.)

    A malformed expression answers True: pytest reports the error itself.
    """
    try:
        tree = _Parser(markexpr or "", stage).parse()
    except ValueError:
        return True
    names = sorted(_variables(tree))
    if len(names) > MAX_FREE_MARKERS:
        return True
    return any(
        _evaluate(tree, dict(zip(names, combination, strict=True)))
        for combination in itertools.product((False, True), repeat=len(names))
    )
