"""Benchmarks and the benchmark dataset (bench/README.md). A Django app only so that
`manage.py generate_load` exists in a checkout; it is not in the wheel (pyproject.toml), and
crm/settings.py installs it only when this directory is present."""
