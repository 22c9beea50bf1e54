# RadLens: `make run` starts the app, `make test` runs the test suite. Both create .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean-venv

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/radlens

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# ruff and mypy over the whole tree, and the import-linter contracts of pyproject.toml (.ci/run runs this too).
lint: $(STAMP)
	$(BIN)/ruff check engine training viewer plugins tests scripts
	$(BIN)/mypy engine training viewer plugins tests scripts
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python scripts/bench_explain.py --write
	$(BIN)/python scripts/bench_io.py --write
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/bench_viewer.py --write
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/bench_perturb.py --write
	$(BIN)/python scripts/bench_report.py --write
	$(BIN)/python scripts/bench_localise.py --write
	$(BIN)/python scripts/bench_pacs.py --write
	$(BIN)/python scripts/bench_models.py --write
	QT_QPA_PLATFORM=offscreen $(BIN)/python scripts/bench_live.py --write
	$(BIN)/python scripts/bench_study.py --write

clean-venv:
	rm -rf $(VENV)
