"""The pipeline's template checks, as cfn-lint custom rules.

Load them with cfn-lint itself, from an editor or pre-commit, exactly as the pipeline does::

    cfn-lint infra/template.yaml --append-rules pytest_pipeline/predeploy/cfnrules

(the directory of this package; ``python -c "import pytest_pipeline.predeploy.cfnrules as r;
print(r.RULES_DIR)"`` prints it for an installed copy). Each module groups the rules of one
area; ``_common`` and ``_eb`` are helpers (cfn-lint skips files starting with ``_``). The
README's "Template checks" section lists every rule with its control and fix.
"""

from __future__ import annotations

from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent

#: The rule modules, in the order of their ids.
MODULES = (
    "elasticbeanstalk",
    "network",
    "secret_values",
    "dataloss",
    "storage",
    "encryption",
    "iam",
    "monitoring",
)

__all__ = ["MODULES", "RULES_DIR"]
