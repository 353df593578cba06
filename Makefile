# Set-up is part of every target: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch is pinned to the CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

# datasets 3.x is the last line that runs loading scripts; CI keeps them working there.
DS3_VENV  := .venv-datasets3
DATASETS3 ?= datasets==3.6.0

# both ends of every dependency range (pyproject.toml): `make test` resolves the newest versions the
# ranges allow (torch aside), `make test-lowest` the oldest, `make test-torch-newest` torch's newest
LOW_VENV     := .venv-lowest
TORCH_VENV   := .venv-torch-newest
TORCH_NEWEST ?= torch==2.14.1

# a saved processor's remote code, in fresh environments holding only what its requirements.txt declares
# (no sa2va-hf), at the newest and the lowest versions the ranges allow
RC_DIR       := .remote-code
RC_VENV      := .venv-remote-code
RC_LOW_VENV  := .venv-remote-code-lowest

comma := ,

# Tests never reach the network.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: test test-datasets3 test-lowest test-torch-newest test-ray test-remote-code docs demo bench lint clean

# $(call venv,DIR,TORCH,EXTRAS,MORE_PIP_ARGS): a fresh virtual environment with the package installed
define venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet "$(2)" $(4)
	$(1)/bin/python -m pip install --quiet -e ".[$(3)]" $(4)
	touch $(1)/.installed
endef

$(STAMP): pyproject.toml
	$(call venv,$(VENV),$(TORCH),test)

test: $(STAMP)
	$(OFFLINE) $(PY) -m pytest -q

$(DS3_VENV)/.installed: pyproject.toml
	$(call venv,$(DS3_VENV),$(TORCH),test,"$(DATASETS3)")

# the data side (builders, loading scripts, schema) and the Parquet export on datasets 3.x
test-datasets3: $(DS3_VENV)/.installed
	$(OFFLINE) $(DS3_VENV)/bin/python -m pytest -q tests/data tests/export

$(LOW_VENV)/.installed: pyproject.toml .ci/lowest_constraints.py
	$(PYTHON) .ci/lowest_constraints.py test ray > .lowest-constraints.txt
	$(call venv,$(LOW_VENV),torch,test$(comma)ray,-c .lowest-constraints.txt)
	rm -f .lowest-constraints.txt

# every direct dependency (and the test and Ray extras) at the lowest version its range allows
test-lowest: $(LOW_VENV)/.installed
	$(OFFLINE) $(LOW_VENV)/bin/python -m pytest -q

$(TORCH_VENV)/.installed: pyproject.toml
	$(call venv,$(TORCH_VENV),$(TORCH_NEWEST),test)

# the newest torch the range allows (a CUDA build on this index: several GB; CI only)
test-torch-newest: $(TORCH_VENV)/.installed
	$(OFFLINE) $(TORCH_VENV)/bin/python -m pytest -q

# training samples on a local Ray instance (the optional Ray extra, installed into .venv)
test-ray: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,ray]"
	$(OFFLINE) $(PY) -m pytest -q tests/training/test_ray_data.py

# $(call remote_code_check,VENV,MORE_PIP_ARGS): a fresh venv with a saved processor's declared requirements
# only, checked from outside the checkout (sa2va_hf must not be importable): InternVL's and LLaVA's
# (no torch), then the Qwen-VL families' (torch: their pixels; the CPU wheel), then with the optional
# pycocotools (RLE masks) added
define remote_code_check
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -r $(RC_DIR)/internvl/requirements.txt $(2)
	cd $(RC_DIR) && $(OFFLINE) HF_MODULES_CACHE=$(CURDIR)/$(RC_DIR)/modules \
		$(CURDIR)/$(1)/bin/python $(CURDIR)/tests/remote_code.py check . --families internvl,llava --block pycocotools
	$(1)/bin/python -m pip install --quiet -r $(RC_DIR)/qwen2_5_vl/requirements.txt "$(TORCH)" $(2)
	$(1)/bin/python -m pip freeze
	cd $(RC_DIR) && $(OFFLINE) HF_MODULES_CACHE=$(CURDIR)/$(RC_DIR)/modules \
		$(CURDIR)/$(1)/bin/python $(CURDIR)/tests/remote_code.py check . --block pycocotools
	$(1)/bin/python -m pip install --quiet "$$(sed -n 's/^# \(pycocotools[^ ]*\).*/\1/p' $(RC_DIR)/internvl/requirements.txt)" $(2)
	cd $(RC_DIR) && $(OFFLINE) HF_MODULES_CACHE=$(CURDIR)/$(RC_DIR)/modules \
		$(CURDIR)/$(1)/bin/python $(CURDIR)/tests/remote_code.py check .
endef

# every family's saved processor: saved and run in .venv, loaded with trust_remote_code=True and run again
# where only its declared requirements are installed; every output array must be identical
test-remote-code: $(STAMP)
	rm -rf $(RC_DIR)
	$(OFFLINE) $(PY) -m tests.remote_code save $(RC_DIR)
	$(call remote_code_check,$(RC_VENV),)
	$(PYTHON) .ci/lowest_constraints.py > .lowest-constraints.txt
	$(call remote_code_check,$(RC_LOW_VENV),-c $(CURDIR)/.lowest-constraints.txt)
	rm -f .lowest-constraints.txt

# the documentation, built strictly: any warning, broken internal link or unresolved reference fails it
# (nothing is fetched: no intersphinx); docs/_build/html/index.html
$(VENV)/.docs-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,docs]"
	touch $@

docs: $(VENV)/.docs-installed
	rm -rf docs/_build
	$(OFFLINE) $(PY) -m sphinx -b html -W --keep-going -n -q docs docs/_build/html

demo: $(STAMP)
	$(OFFLINE) $(VENV)/bin/sa2va-hf demo --output demo.png

bench: $(STAMP)
	$(VENV)/bin/sa2va-hf bench

lint: $(STAMP)
	$(VENV)/bin/ruff check sa2va_hf tests loading_scripts bench .ci

clean:
	rm -rf $(VENV) $(DS3_VENV) $(LOW_VENV) $(TORCH_VENV) $(RC_VENV) $(RC_LOW_VENV) $(RC_DIR) demo.png .pytest_cache docs/_build
