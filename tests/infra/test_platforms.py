"""Choosing the current Elastic Beanstalk Python platform on real AWS."""

from __future__ import annotations

from botocore.stub import Stubber

from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.aws.platforms import current_python_stack, newest_python_stack

NAMES = [
    "64bit Amazon Linux 2023 v4.1.0 running Python 3.11",
    "64bit Amazon Linux 2023 v4.3.2 running Python 3.11",
    "64bit Amazon Linux 2023 v4.10.1 running Python 3.12",
    "64bit Amazon Linux 2023 v4.3.9 running Python 3.9",
    "64bit Amazon Linux 2 v3.7.0 running Python 3.8",
    "64bit Amazon Linux 2023 v6.0.0 running Node.js 20",
]


def test_newest_python_stack_compares_versions_as_numbers() -> None:
    """v4.10 is newer than v4.3; the newest Python wins unless one is asked for."""
    assert newest_python_stack(NAMES) == "64bit Amazon Linux 2023 v4.10.1 running Python 3.12"
    assert newest_python_stack(NAMES, 11) == "64bit Amazon Linux 2023 v4.3.2 running Python 3.11"
    assert newest_python_stack(NAMES, 7) is None
    assert newest_python_stack([]) is None


def test_current_python_stack_asks_elastic_beanstalk() -> None:
    """The list comes from ListAvailableSolutionStacks; an error falls back to None."""
    ctx = AwsContext(
        backend="aws", requested="aws", source="test", endpoint_url="http://127.0.0.1:9"
    )
    with Stubber(ctx.client("elasticbeanstalk")) as stub:
        stub.add_response("list_available_solution_stacks", {"SolutionStacks": NAMES})
        stub.add_client_error("list_available_solution_stacks", "AccessDenied", "no", 403)
        assert current_python_stack(ctx, 11) == "64bit Amazon Linux 2023 v4.3.2 running Python 3.11"
        assert current_python_stack(ctx) is None
