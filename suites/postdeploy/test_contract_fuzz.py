"""Property-based fuzzing of every operation of the OpenAPI contract (Schemathesis).

One test per operation and generation mode (``fuzz_operation`` is parametrized from the
document named by the setting ``contract``): seeded (``fuzz-seed``) and bounded
(``fuzz-examples`` requests each). No 5xx, documented status codes, content types, bodies
and headers, every error in the error shape; a failure carries a curl line to reproduce it.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("fuzz", "contract fuzzing")

from pytest_pipeline.postdeploy.fuzz import FuzzOperation, fuzz_operation  # noqa: E402
from pytest_pipeline.postdeploy.http import ServiceClient  # noqa: E402
from pytest_pipeline.settings import PipelineSettings  # noqa: E402


def test_contract_fuzz(
    service: ServiceClient,
    pipeline_settings: PipelineSettings,
    fuzz_target: tuple[FuzzOperation, str] | str,
    contract_record: Any,
) -> None:
    """Generated requests of one operation all answered as the contract documents."""
    if isinstance(fuzz_target, str):
        pytest.fail(fuzz_target, pytrace=False)
    operation, mode = fuzz_target
    result = fuzz_operation(
        pipeline_settings.contract,
        operation,
        mode,
        service.base_url,
        examples=pipeline_settings.fuzz_examples,
        seed=pipeline_settings.fuzz_seed,
    )
    contract_record.figure("fuzz_requests", result.requests)
    assert result.ok, "\n".join(result.problems)
