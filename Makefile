# energymodel: every target creates .venv if it is missing.
# Torch is installed first, pinned to the CPU build this machine carries, so that no CUDA
# wheels are pulled; spikingjelly (a test oracle only) is installed without its heavy deps.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
STAMP  := $(VENV)/.installed-v1

.PHONY: venv test demo report bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[test]"
	$(PIP) --no-deps "spikingjelly==2.0.0"
	$(PIP) "loguru>=0.7,<1"
	touch $(STAMP)

test: venv
	OMP_NUM_THREADS=2 $(PY) -m pytest -q

demo: venv
	$(VENV)/bin/energymodel profile sdt-1-64-tiny --hw cmos45nm --hw loihi --hw fpga --timesteps 2

report: venv
	$(VENV)/bin/energymodel report --out-dir reports/

bench: venv
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
