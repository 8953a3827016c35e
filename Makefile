# Two commands do all set-up: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m evaluation.app.demo --corpus data/starter --out runs/demo

# Two pytest-xdist workers (one per core of the 2-core machines the suite is sized for); a test file runs
# whole in one worker, so its module fixtures (servers, trained runs) are built once; the longest files are
# handed out first (tests/conftest.py HEAVY_FIRST). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	bash tests/setup_browser.sh
	IMG2SONG_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/img2song bench line

lint: $(STAMP)
	$(BIN)/ruff check engine graph evaluation tests

clean:
	rm -rf build runs .pytest_cache
