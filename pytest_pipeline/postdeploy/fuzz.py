"""Property-based fuzzing of a service from its OpenAPI contract, with Schemathesis.

Each operation of the contract document (setting ``contract``) is fuzzed on its own: a
seeded, bounded number of generated requests (setting ``fuzz-examples``), valid ones and,
for operations with a request body, invalid ones. Every answer is held to Schemathesis's
checks: no 5xx, a documented status code, the documented content type, a body and headers
matching the schema (so every error in the error shape), and invalid requests refused with
a 4xx. A failure's message carries the request as a ``curl`` line to reproduce it.

No pytest here: :func:`fuzz_operation` returns the problems found, a script can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

__all__ = ["FuzzOperation", "FuzzResult", "fuzz_operation", "operations"]

#: Seconds one generated request may take (a photo upload on a small instance).
REQUEST_TIMEOUT_S = 30.0
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class FuzzOperation:
    """One operation of the contract, and the generation modes it is fuzzed with."""

    method: str
    path: str
    modes: tuple[str, ...]

    @property
    def label(self) -> str:
        """``POST /api/v1/photos``."""
        return f"{self.method.upper()} {self.path}"


@dataclass(frozen=True)
class FuzzResult:
    """What fuzzing one operation in one mode found: requests sent and problems (with curl)."""

    operation: str
    mode: str
    requests: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every answer honoured the contract."""
        return not self.problems


def _document(contract: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(contract.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the contract document {contract}: {error}") from None
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3."):
        raise ValueError(f"{contract} is not an OpenAPI 3 document (no 'openapi: 3.x' key)")
    return data


def operations(contract: Path) -> list[FuzzOperation]:
    """Every operation of the contract document, with ``positive`` and, when the operation
    takes a request body, ``negative`` generation."""
    found = []
    for path, item in (_document(contract).get("paths") or {}).items():
        for method, spec in (item or {}).items():
            if method in _METHODS and isinstance(spec, dict):
                modes = ("positive", "negative") if spec.get("requestBody") else ("positive",)
                found.append(FuzzOperation(method, path, modes))
    return found


@lru_cache(maxsize=4)
def _schema(contract: Path) -> Any:
    return schemathesis.openapi.from_dict(_document(contract))


def fuzz_operation(
    contract: Path,
    operation: FuzzOperation,
    mode: str,
    base_url: str,
    *,
    examples: int,
    seed: int,
) -> FuzzResult:
    """Send up to ``examples`` generated requests of ``operation`` to ``base_url``.

    The same ``seed`` sends the same requests. Stops at the first answer that breaks the
    contract; its problem says which check failed and how to reproduce it (curl).
    """
    api = _schema(contract)[operation.path][operation.method.upper()]
    strategy = api.as_strategy(generation_mode=GenerationMode(mode))
    session = requests.Session()
    session.headers["User-Agent"] = "pytest-pipeline postdeploy fuzz"
    sent = 0

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        # A schema-valid upload may still be no picture (415) or ask for a spec the service
        # does not offer (400): valid data is not promised a 2xx, so that check is left out.
        case.call_and_validate(
            base_url=base_url,
            session=session,
            timeout=REQUEST_TIMEOUT_S,
            excluded_checks=[positive_data_acceptance],
        )

    problems: tuple[str, ...] = ()
    try:
        run()
    except requests.RequestException as error:
        problems = (f"{operation.label} ({mode}): the request failed: {error}",)
    except (AssertionError, FailureGroup) as error:  # schemathesis's failures
        problems = (_describe(operation, mode, error),)
    finally:
        session.close()
    return FuzzResult(operation.label, mode, sent, problems)


def _describe(operation: FuzzOperation, mode: str, error: BaseException) -> str:
    """The failure's own text (each failed check, the answer, the curl line)."""
    notes = [n for n in getattr(error, "__notes__", []) if "Falsifying example" not in n]
    body = "\n".join([str(error).strip(), *[n.strip() for n in notes]]).strip()
    return f"{operation.label} ({mode} data) breaks the contract:\n{body}"
