# One entry point for humans and CI. Every target builds its own virtual
# environment from pyproject.toml, so a fresh machine needs only Python and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo serve dev bench-accuracy bench-s3 bench-warehouse clean

$(STAMP): pyproject.toml server/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The server is a distribution of its own (./server); installed beside it, it satisfies the [server] extra.
	$(BIN)/pip install --quiet -e './server[dev]' -e '.[dev]'
	# The official Symbl SDK, only to prove our local server is wire-compatible with it.
	# Its pinned dependencies are stale, so it goes in without them (as its docs allow).
	$(BIN)/pip install --quiet --no-deps 'symbl==2.0.6' 'symbl-rest>=1.0.14' 'websocket-client>=1.6'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check symbl_dagster server/symbl_server tests server/tests bench server/bench
	$(BIN)/ruff format --check symbl_dagster server/symbl_server
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/symbl-dagster demo $(DEMO_ARGS)

serve: $(STAMP)
	$(BIN)/symbl-dagster serve $(SERVE_ARGS)

dev: $(STAMP)
	$(BIN)/symbl-dagster dev $(DEV_ARGS)

bench-accuracy: $(STAMP)
	$(BIN)/python server/bench/accuracy.py

bench-s3: $(STAMP)
	$(BIN)/python bench/s3_sensor.py

bench-warehouse: $(STAMP)
	$(BIN)/python bench/warehouse_load.py

clean:
	rm -rf $(VENV) .dagster_home demo_output .pytest_cache build *.egg-info
