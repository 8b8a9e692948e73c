"""The pytest side of pytest-pipeline: the only package that imports pytest."""
