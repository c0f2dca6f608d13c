# The two commands a newcomer needs: `make serve` runs Tidings, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: serve test bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

serve: $(VENV)/.installed
	$(VENV)/bin/tidings serve

test: $(VENV)/.installed
	$(PY) -m tidings.testing.run_suite

bench: $(VENV)/.installed
	$(PY) bench/sms_throughput.py
