"""pytest-pipeline."""
