"""A run's machinery that needs no pytest: once-per-run resources, environment locks, the
sweep of what a killed run left, SIGTERM as Ctrl-C, the commit under test."""
