# wuye: two commands on a fresh machine — `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml

.PHONY: run test install dev clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

$(CONFIG): | $(VENV)/.installed
	$(BIN)/wuye init --config $(CONFIG)

run: $(VENV)/.installed $(CONFIG)
	$(BIN)/wuye serve --config $(CONFIG)

# pytest exits 5 when it collected no test: that must fail, and it does (non-zero).
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.installed
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/classifier.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
