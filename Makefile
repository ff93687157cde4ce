# The two commands a newcomer runs: `make run` and `make test`. Each sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.toml
# pytest-timeout per test; the whole suite stays well under 15 minutes on 2 cores. It runs on one
# pytest-xdist worker per core (2 to 4): most integration tests wait on real-time audio, and each
# worker has a network namespace of its own, so their ports never meet. TEST_WORKERS=0 runs it in
# one process. Work stealing evens out the tail (a worker that is done takes over queued tests).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -lt 2 ] && n=2; [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit setup system-deps bench bench-quick prompts moh mutants clean dist FORCE
.PHONY: screenshots

$(STAMP): pyproject.toml constraints.txt
	@# Debian's python3 needs python3-venv for ensurepip; install it when venv creation fails.
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# SIPp (Debian's sip-tester) drives the integration tests, SIPVicious (sipvicious) attacks the
# switch in the security tests and fail2ban's fail2ban-regex checks the shipped filter against
# a log the switch wrote (the package only: a policy-rc.d keeps apt from starting its service).
# Each is installed when missing (CI runs as root).
system-deps:
	@# sox is the tests' second G.711 oracle; espeak-ng speaks prompts and run-time announcements.
	@# tshark shows that the RTP of an SRTP leg is not the plain audio (tests/integration/test_srtp.py).
	@missing=""; \
	command -v sipp >/dev/null 2>&1 || missing="$$missing sip-tester"; \
	command -v svcrack >/dev/null 2>&1 || missing="$$missing sipvicious"; \
	command -v fail2ban-regex >/dev/null 2>&1 || missing="$$missing fail2ban"; \
	command -v sox >/dev/null 2>&1 || missing="$$missing sox"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v tshark >/dev/null 2>&1 || missing="$$missing tshark"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
	    printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  [ -z "$$policy" ] || rm -f $$policy; exit $$rc; \
	fi

	@# tmux runs `make run`'s console in a test the way a person sees it; rsvg-convert turns the
	@# console's SVG screenshots into the PNGs of the README (scripts/console_screenshot.py).
	@command -v tmux >/dev/null 2>&1 && command -v rsvg-convert >/dev/null 2>&1 || { \
	  echo "installing tmux and librsvg2-bin"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux librsvg2-bin >/dev/null; }

setup: $(STAMP) system-deps

# The switch with the operator console on this terminal (F1 help; Ctrl-C stops both).
run: setup
	$(BIN)/softswitch run --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check softswitch codecs bench tests freeze scripts tools
	$(BIN)/ruff format --check softswitch codecs bench tests freeze scripts tools
	@# mypy cannot follow the editable install's import hook for the codecs/ -> softswitch_codecs
	@# mapping, so it reads codecs/ through a symlink under its import name.
	@mkdir -p build/typecheck && ln -sfn ../../codecs build/typecheck/softswitch_codecs
	MYPYPATH=build/typecheck $(BIN)/mypy -p softswitch -p softswitch_codecs -p bench
	@# MYPYPATH here too: from the repo root mypy takes codecs/ for the standard library's codecs.
	MYPYPATH=build/typecheck $(BIN)/mypy freeze/inputs.py
	MYPYPATH=build/typecheck $(BIN)/mypy scripts
	MYPYPATH=build/typecheck $(BIN)/mypy tools

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
test: setup lint
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal) \
	  $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# One executable for small offices (PyInstaller onefile, freeze/softswitch.spec): dist/softswitch
# runs on a machine without Python. Rebuilt only when the digest of its inputs changes (sources,
# spec, installed distributions; see freeze/inputs.py), built aside and moved in whole, so an
# interrupted build never leaves a half-written executable that make would take as current.
DIST := dist/softswitch
DIST_INPUTS := build/dist-inputs.sha256

dist: $(DIST)

$(DIST_INPUTS): FORCE $(STAMP)
	@$(BIN)/python freeze/inputs.py $@ softswitch codecs prompts freeze pyproject.toml constraints.txt

$(DIST): $(DIST_INPUTS)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath build/freeze/dist \
	  --workpath build/freeze freeze/softswitch.spec
	mkdir -p $(dir $@)
	mv build/freeze/dist/softswitch $@

FORCE:

bench: setup
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench --suite default

bench-quick: setup
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench --suite quick

# Re-record the prompt set with espeak-ng from prompts/texts.toml (PROMPT_LANG=zh: one language).
prompts: setup
	$(BIN)/python scripts/make_prompts.py $(if $(PROMPT_LANG),--language $(PROMPT_LANG))

# Compose the default music on hold again (prompts/moh/default/arpeggios.wav).
moh: setup
	$(BIN)/python scripts/make_moh.py

# The README's wallboard and agent-view PNGs (docs/images/), from a demo state on the real
# API server and ACD engine (scripts/screenshots.py; rsvg-convert comes with make setup).
screenshots: setup
	$(BIN)/python scripts/screenshots.py

# Mutation testing of the sans-IO cores against their fast unit tests (README, Tests): too slow for
# `make test`. Targets are [tool.mutmut] in pyproject.toml; MUTANTS_JOBS bounds the mutants tested
# at once, MUTANTS_ARGS passes options to tools/mutants.py (--module FILE, --survivors, --report).
MUTANTS_JOBS ?= 2
MUTANTS_ARGS ?=
mutants: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt mutmut
	nice -n 10 $(BIN)/python tools/mutants.py --jobs $(MUTANTS_JOBS) $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) build dist mutants .mypy_cache .ruff_cache .pytest_cache
