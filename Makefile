# Two entry points for a fresh clone (each creates .venv and installs first):
#   make pipeline   the whole pipeline on the embedded default -> reports/report.html
#   make test       the plugin's own tests -> reports/tests/

# pytest rewrites the asserts of every module of the plugin package; with bytecode writing
# off it does so again in every (sub)process. Let it cache: the tests run about twice as fast.
unexport PYTHONDONTWRITEBYTECODE

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_REPORTS := reports/tests
# An offline OSV snapshot for the dependency audit where no vulnerability service answers
# (`make pipeline VULN_DB=path`); by default the advisory database beside this checkout, if any.
VULN_DB ?= $(wildcard ../shared/advisory-db)
ifneq ($(strip $(VULN_DB)),)
export PIPELINE_VULN_DB ?= $(abspath $(VULN_DB))
endif

.PHONY: venv lock pipeline test lint bench clean

# The versions every install here uses: constraints.txt, compiled from pyproject.toml (the
# plugin, every extra, the dev tools) and app/requirements.txt (the reference app's pins, for
# its own tests in tests/app). Refresh it with `make lock` after changing either.
LOCK := constraints.txt

# The plugin (editable, with the test and dev extras) and the reference app's dependencies,
# all at the versions of the lock file.
$(STAMP): pyproject.toml $(LOCK) app/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# the distribution's former name, in a virtualenv made before the rename: both would
	@# register the plugin
	$(BIN)/python -m pip uninstall --quiet --yes pytest-pipeline 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[dev]" -r app/requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve the lock file from pyproject.toml and app/requirements.txt (newest versions that
# fit), then reinstall from it. pip-compile comes with the dev extra (pip-tools).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/pip-compile || $(BIN)/python -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade --extra dev \
		--strip-extras --no-emit-index-url --no-emit-find-links \
		--unsafe-package pytest-cicd-pipeline --output-file $(LOCK) \
		pyproject.toml app/requirements.txt
	$(MAKE) venv

# Plain pytest: testpaths = suites; pyproject addopts write reports/report.html and junit.xml.
pipeline: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The plugin's own tests, with their own report paths (the pipeline report stays intact).
test: $(STAMP)
	PIPELINE_REPORTS_DIR=$(TEST_REPORTS) $(BIN)/pytest tests \
		--html=$(TEST_REPORTS)/report.html --self-contained-html \
		--junitxml=$(TEST_REPORTS)/junit.xml $(PYTEST_ARGS)

# ruff, then mypy --strict over the package, suites/ and app/ (pyproject [tool.mypy] files),
# then the layering contracts (import-linter). .ci/run runs this target.
lint: $(STAMP)
	$(BIN)/ruff check pytest_pipeline tests benchmarks suites app
	$(BIN)/ruff format --check pytest_pipeline tests benchmarks suites app
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/plugin_overhead.py

clean:
	rm -rf reports .pipeline .pytest_cache
