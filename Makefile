# energymodel: every target creates .venv if it is missing.
# Torch is installed first, pinned to the CPU build this machine carries, so that no CUDA
# wheels are pulled. The SNN frameworks are test-only (never dependencies of energymodel) and
# installed with --no-deps so torch stays the CPU build: spikingjelly 2.0.0 (+ loguru, its one
# other import, and h5py, which its activation_based.model package imports for every zoo
# network), snntorch 1.0.0 (imports only torch and numpy), and spikingjelly 0.0.0.0.14,
# the old clock_driven API, into its own folder $(SJ014) because it cannot share site-packages
# with 2.x (tests/test_interop_neurons.py runs it in a subprocess; cupy and lava are optional
# imports there, no stubs needed). NIR and NeuroBench (tests/test_nir*.py, tests/test_neurobench*.py):
# nir 1.0.8 and nirtorch 2.6 (the optional extra energymodel[nir]; nir imports h5py, installed
# above) and neurobench 2.3.0, whose Benchmark path imports only snntorch, numpy and tqdm.
# sinabs 3.1.3 (+ pbr, which it imports for its version) and norse 1.1.0
# (tests/test_interop_frameworks.py): norse ships only an sdist whose version comes from git
# metadata, so pip's "norse==1.1.0" rejects the built wheel (0.0.0); the sdist is downloaded
# by its pinned version and installed from the file.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
STAMP  := $(VENV)/.installed-v5
SJ014  := $(VENV)/sj014

.PHONY: venv test demo example report bench clean latex-check

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[test]"
	$(PIP) --no-deps "spikingjelly==2.0.0"
	$(PIP) "loguru>=0.7,<1"
	$(PIP) --no-deps "h5py>=3,<4"
	$(PIP) --no-deps "snntorch==1.0.0"
	$(PIP) --no-deps "nir==1.0.8" "nirtorch==2.6" "neurobench==2.3.0"
	$(PIP) --no-deps "sinabs==3.1.3" "pbr>=5,<8"
	rm -rf $(VENV)/dl && $(PY) -m pip download -q --disable-pip-version-check --no-deps \
	  -d $(VENV)/dl "norse==1.1.0"
	$(PIP) "setuptools>=61" wheel
	$(PIP) --no-deps --no-build-isolation $(VENV)/dl/norse-1.1.0.tar.gz
	rm -rf $(SJ014)
	$(PIP) --no-deps --target $(SJ014) "spikingjelly==0.0.0.0.14"
	touch $(STAMP)

test: venv
	OMP_NUM_THREADS=2 $(PY) -m pytest -q

demo: venv
	$(VENV)/bin/energymodel profile sdt-1-64-tiny --hw cmos45nm --hw loihi --hw fpga --timesteps 2

example: venv
	OMP_NUM_THREADS=2 $(PY) examples/train_tiny.py

report: venv
	$(VENV)/bin/energymodel report --out-dir reports/

# every committed LaTeX table compiles in a plain article (booktabs, graphicx, amsmath) with no
# overfull box; pdflatex is installed on demand (Debian/Ubuntu: needs root or sudo)
latex-check: venv
	command -v pdflatex >/dev/null || { $$(command -v sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$(command -v sudo) apt-get install -y -qq \
	  --no-install-recommends texlive-latex-base texlive-latex-recommended; }
	$(PY) -m energymodel.report.latex_check reports/*.tex

bench: venv
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
