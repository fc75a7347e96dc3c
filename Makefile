# PostLoan Lab: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-optimize test lint format bench clean

# Re-install only when the project definition changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/postloan run scenarios/baseline.yaml --out results
	@echo "Results are in results/ (the newest folder); see README.md for what each file holds."

# The optimiser demo (docs/optimiser.md): NSGA-II over the example space on the baseline book,
# then the chosen compromise against `standard` on 10 fresh seeds (paired). A few minutes on 2 cores.
demo-optimize: $(STAMP)
	$(BIN)/postloan optimize scenarios/baseline.yaml --space optimizer/spaces/example.yaml \
		--generations 6 --population 12 -j 2 --out results/optimize

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
