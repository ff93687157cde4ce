# The two commands a newcomer runs: `make run` and `make test`. Each sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.toml
# pytest-timeout per test; the whole suite stays well under 15 minutes on 2 cores.
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit setup system-deps bench bench-quick mutants clean

$(STAMP): pyproject.toml constraints.txt
	@# Debian's python3 needs python3-venv for ensurepip; install it when venv creation fails.
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# SIPp (Debian's sip-tester) drives the integration tests; install it when missing (CI runs as root).
system-deps:
	@command -v sipp >/dev/null 2>&1 || { \
	  echo "installing sip-tester (SIPp)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; }

setup: $(STAMP) system-deps

run: setup
	$(BIN)/softswitch run --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check softswitch codecs bench tests tools
	$(BIN)/ruff format --check softswitch codecs bench tests tools
	@# mypy cannot follow the editable install's import hook for the codecs/ -> softswitch_codecs
	@# mapping, so it reads codecs/ through a symlink under its import name.
	@mkdir -p build/typecheck && ln -sfn ../../codecs build/typecheck/softswitch_codecs
	MYPYPATH=build/typecheck $(BIN)/mypy -p softswitch -p softswitch_codecs -p bench
	$(BIN)/mypy tools

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: setup
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench --suite default

bench-quick: setup
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench --suite quick

# Mutation testing of the sans-IO cores against their fast unit tests (README, Tests): too slow for
# `make test`. Targets are [tool.mutmut] in pyproject.toml; MUTANTS_JOBS bounds the mutants tested
# at once, MUTANTS_ARGS passes options to tools/mutants.py (--module FILE, --survivors, --report).
MUTANTS_JOBS ?= 2
MUTANTS_ARGS ?=
mutants: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt mutmut
	nice -n 10 $(BIN)/python tools/mutants.py --jobs $(MUTANTS_JOBS) $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) build mutants .mypy_cache .ruff_cache .pytest_cache
