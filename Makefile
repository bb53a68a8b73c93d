# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv and install the project into it, once (idempotent).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPLAYS ?= data/replays

.PHONY: venv demo test test-slow bench clean browser lint format lab hooks

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/workbench report --replays $(REPLAYS) --out reports

# The report browser test drives Debian's Chromium; install it when missing and possible.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will skip"; }

# the suite, then the lint rules and the format check; all run (a lint error must not
# hide the test results) and any failing fails the target. tests/test_tooling.py runs ruff too.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q; tests=$$?; $(BIN)/ruff check .; lint=$$?; $(BIN)/ruff format --check .; fmt=$$?; \
	  [ $$tests -eq 0 ] && [ $$lint -eq 0 ] && [ $$fmt -eq 0 ]

# ruff's lint rules ([tool.ruff.lint] in pyproject.toml) and its format check; CI runs
# both through `make test`
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# formats the tree ([tool.ruff.format]); `make lint` and `make test` check it
format: $(STAMP)
	$(BIN)/ruff format .

# the notebooks in JupyterLab (outputs are stripped on commit by the nbstripout hook)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

# git hooks from .pre-commit-config.yaml: nbstripout and ruff on every commit
hooks: $(STAMP)
	$(BIN)/pre-commit install

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf .cache papermill_runs/* reports/*
