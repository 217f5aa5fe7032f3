# rawpipe — every task is a target; `make setup` is implied by the others.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rawpipe-setup
PYTEST_ARGS ?=
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-all lint format data-raw data-photos clean help

help:
	@echo "make setup        create .venv (torch==2.13.0 CPU first, everything else against that pin)"
	@echo "make demo         process a real RAW (fetched) with process_raw and print the output path"
	@echo "make test         run the default test suite (fast; fetches data on first use)"
	@echo "make test-all     also the slow tests"
	@echo "make lint         ruff check + format check"
	@echo "make data-raw     fetch + verify the real hdrmerge DNGs into \$$RAWPIPE_CACHE (~/.cache/rawpipe)"
	@echo "make data-photos  fetch + verify the clean photographs"
	@echo "make eval         issue-4 quality table on the validation split (build/eval/eval.md)"
	@echo "make notebooks    execute the notebooks, HTML reports in notebooks/build/"
	@echo "make bench        process_raw vs rawpy/OpenCV/demosaicnet: time, RSS (build/bench/bench.md)"
	@echo "make train-teacher / distill / export-android / export-ios / parity / fuzz: see README"

setup: $(STAMP)

# Re-runs only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[export,notebooks,bench,dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m rawpipe.demo

test: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check rawpipe tests scripts export calibration
	$(BIN)/ruff format --check rawpipe tests scripts export calibration

format: setup
	$(BIN)/ruff format rawpipe tests scripts export calibration
	$(BIN)/ruff check --fix rawpipe tests scripts export calibration

data-raw: setup
	$(BIN)/python -m rawpipe.data.fetch raw

data-photos: setup
	$(BIN)/python -m rawpipe.data.fetch photos

clean:
	rm -rf $(VENV) build export/build notebooks/build .pytest_cache .ruff_cache

# Targets contributed by subsystems (export, fuzzing, training) live beside their code.
-include export/Makefile.inc
-include fuzz/Makefile.inc
-include rawpipe/train/Makefile.inc

# Notebooks: executed in full, HTML reports in notebooks/build/ (make test runs them in fast mode).
.PHONY: notebooks
notebooks: setup $(ANDROID_MANIFEST)
	$(BIN)/python scripts/run_notebooks.py

# Benchmarks (issue 7): process_raw per backend vs rawpy AHD, OpenCV + NLM, demosaicnet; RSS series.
BENCH_ARGS ?= --memory
.PHONY: bench
bench: setup $(ANDROID_MANIFEST)
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)
