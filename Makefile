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

.PHONY: venv pipeline test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

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
