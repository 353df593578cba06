# Set-up is part of every target: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch is pinned to the CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

# datasets 3.x is the last line that runs loading scripts; CI keeps them working there.
DS3_VENV  := .venv-datasets3
DS3_STAMP := $(DS3_VENV)/.installed
DATASETS3 ?= datasets==3.6.0

.PHONY: test test-datasets3 test-ray demo bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

$(DS3_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DS3_VENV)
	$(DS3_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DS3_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(DS3_VENV)/bin/python -m pip install --quiet -e ".[test]" "$(DATASETS3)"
	touch $(DS3_STAMP)

# the data side (builders, loading scripts, schema) and the Parquet export on datasets 3.x
test-datasets3: $(DS3_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(DS3_VENV)/bin/python -m pytest -q tests/data tests/export

# training samples on a local Ray instance (the optional Ray extra, installed into .venv)
test-ray: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,ray]"
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q tests/training/test_ray_data.py

demo: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/sa2va-hf demo --output demo.png

bench: $(STAMP)
	$(VENV)/bin/sa2va-hf bench

lint: $(STAMP)
	$(VENV)/bin/ruff check sa2va_hf tests loading_scripts bench

clean:
	rm -rf $(VENV) $(DS3_VENV) demo.png .pytest_cache
