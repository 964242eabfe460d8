# chaincast: `make demo` and `make test` set up .venv on first use (pinned by requirements.lock).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
AOT    := $(VENV)/.kernels-built
KERNEL_SOURCES := $(shell find fec sdr -name '*.py')

.PHONY: demo test test-all bench fuzz lint-imports clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "chaincast needs Python 3.11 (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m compileall -q fec sdr rxside txside
	$(PY) -m chaincast.rxside.warmup
	@touch $(STAMP)

# The receiver's kernels compiled ahead of time (chaincast.fec.kernels); again whenever a source of
# fec/ or sdr/ changes. Without a C compiler the build says so and the receiver stays just in time.
$(AOT): $(STAMP) $(KERNEL_SOURCES)
	-$(PY) -m chaincast.rxside.aotbuild
	@touch $(AOT)

demo: $(STAMP) $(AOT)
	$(VENV)/bin/chaincast demo

test: $(STAMP) $(AOT)
	$(PY) -m pytest -q

test-all: $(STAMP) $(AOT)
	$(PY) -m pytest -q -m ""

# Part 2 (FER of every MODCOD to 1e-3) takes about 1.5 h on one core the first time; it reuses
# bench-out/fer/*.json afterwards (delete them to measure again).
bench: $(STAMP) $(AOT)
	$(PY) tests/bench/run_bench.py
	$(PY) tests/bench/header_chain.py
	$(PY) tests/bench/rx_speed.py
	$(PY) tests/bench/assembler.py
	$(PY) tests/bench/ldpc_abandon.py
	$(PY) tests/bench/fer_sweep.py
	$(PY) tests/bench/fer_plot.py
	$(PY) tests/bench/blanking.py

# atheris (the `fuzz` extra of pyproject.toml) is installed here only, not by `make test`.
# Every target of tests/fuzz/targets.py (and tests/fuzz/*_targets.py) runs FUZZ_SECONDS, one after another;
# corpus, crashes and summary.json / summary.txt go to bench-out/fuzz/. FUZZ_TARGETS=a,b: only those.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_STAMP   := $(VENV)/.fuzz-installed

$(FUZZ_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check $$($(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["fuzz"])')
	@touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	$(PY) tests/fuzz/run.py --seconds $(FUZZ_SECONDS) $(if $(FUZZ_TARGETS),--targets $(FUZZ_TARGETS))

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) demo-out bench-out .pytest_cache fec/_aot*.so fec/_aot.json
