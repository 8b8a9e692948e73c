"""Project-level fixtures of this repository's pipeline (the plugin itself is loaded through
its ``pytest11`` entry point; its public fixtures live in ``pytest_pipeline/plugin/fixtures/``)."""

from __future__ import annotations
