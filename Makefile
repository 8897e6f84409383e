# The two commands: `make demo` (the main job) and `make test` (the suite). Each installs what is
# missing first: the virtualenv from scripts/setup.sh (re-run when pyproject.toml changes), and for
# the tests the Debian packages in scripts/apt-packages.txt (redis-server, chromium).
SHELL := /bin/bash
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint setup test-packages

demo: $(INSTALLED)
	$(VENV)/bin/python -m deita_assets quickstart $(ARGS)

# duckdb 2.0's nanobind bindings print "leaked instance" notes at interpreter exit, after pytest's
# summary (its module-level type constants outlive torch + dagster teardown; no object of ours holds
# them): they are dropped so the summary stays last.
test: $(INSTALLED) test-packages
	$(VENV)/bin/python -m pytest -q deita_assets_tests $(ARGS) \
	  2> >(grep -v -E '^(nanobind: | - leaked | - \.\.\. skipped remainder|See https://nanobind)' >&2)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check deita_assets deita_assets_tests benchmarks
	$(VENV)/bin/ruff format --check deita_assets deita_assets_tests benchmarks

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

test-packages:
	bash scripts/install_test_packages.sh
