# INCS Support. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test bench lint install dev browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

dev: $(DEVSTAMP)

run: $(STAMP)
	$(BIN)/incs run

# Browser tests use Debian's chromium (Playwright's own browser download is not used).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# Three pytest-xdist workers on the 2-core machines: much of the suite waits on real time (Telegram's 30/s, browser
# timers), which the other workers fill; with two CPU burners running, 3 workers took 743 s and 2 took 928 s.
# `make test TEST_WORKERS=0` runs it in one process. Each worker has its own PostgreSQL database (tests/utils/db.py).
TEST_WORKERS ?= 3

test: $(DEVSTAMP) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

bench: $(DEVSTAMP)
	$(BIN)/python -m tests.bench

lint: $(DEVSTAMP)
	$(BIN)/ruff check bot workbench tests
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) data
