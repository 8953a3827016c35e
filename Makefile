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

test: $(STAMP)
	bash tests/setup_browser.sh
	IMG2SONG_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/img2song bench line

lint: $(STAMP)
	$(BIN)/ruff check engine graph evaluation tests

clean:
	rm -rf build runs .pytest_cache
