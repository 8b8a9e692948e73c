"""The postdeploy libraries: HTTP client, contract rules, probes, images, load engine and
thresholds."""
