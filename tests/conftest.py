"""Shared by the plugin's own tests: real pytest sessions through ``pytester``."""

from __future__ import annotations

pytest_plugins = ["pytester"]
