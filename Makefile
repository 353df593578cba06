# Set-up is part of every target: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch is pinned to the CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: test demo bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/sa2va-hf demo --output demo.png

bench: $(STAMP)
	$(VENV)/bin/sa2va-hf bench

lint: $(STAMP)
	$(VENV)/bin/ruff check sa2va_hf tests loading_scripts bench

clean:
	rm -rf $(VENV) demo.png .pytest_cache
