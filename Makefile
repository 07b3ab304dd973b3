# The README's two commands: `make run` and `make test`.
# Both create or update the virtual environment first; installs are skipped when
# the requirement files have not changed since the last install.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-all bench browser clean-venv

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.run-deps: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.run-deps
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-deps
	$(PY) -m streamlit run app.py --server.port $(PORT)

browser:
	bash scripts/ensure_chromium.sh

test: $(VENV)/.dev-deps browser
	$(PY) -m pytest

test-all: $(VENV)/.dev-deps browser
	$(PY) -m pytest -m ''

bench: $(VENV)/.dev-deps
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
