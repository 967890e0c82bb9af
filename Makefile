# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install, run the demo on built-in generated data
#   make test   create .venv, install (with the test extras), run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is only a test/conversion extra. Pinning the CPU build keeps the install small
# where a local wheel exists; override with `make test TORCH_SPEC=torch` elsewhere.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test install lint clean

$(VENV)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m keras_slowfast demo

test: install
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check keras_slowfast tests examples benchmarks
	$(PY) -m ruff format --check keras_slowfast tests examples benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
