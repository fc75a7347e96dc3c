# PostLoan Lab: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WARM   := $(VENV)/.numba-warm
# what compiled kernels are made of (kernels, the functions they call, the constants they read)
KERNEL_SOURCES := $(shell find sim strategies -name '*.py' 2>/dev/null) postloan/warm.py

.PHONY: demo demo-optimize test lint format bench figures clean

# Re-install only when the project definition changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Compile every numba kernel the commands use, once, at install and after each source update,
# so that no command waits for the compiler (about a minute the first time, seconds after).
# After a change it removes the old cache first: numba checks a kernel against its own file
# only, so a kernel calling a changed function of another file would keep stale code.
$(WARM): $(STAMP) $(KERNEL_SOURCES)
	$(BIN)/python -m postloan.warm
	touch $(WARM)

demo: $(WARM)
	$(BIN)/postloan run scenarios/default.yaml --out results
	@echo "Results are in results/ (the newest folder); see README.md for what each file holds."

# The optimiser demo (docs/optimiser.md): NSGA-II over the example space on the baseline book,
# then the chosen compromise against `standard` on 10 fresh seeds (paired). A few minutes on 2 cores.
demo-optimize: $(WARM)
	$(BIN)/postloan optimize scenarios/baseline.yaml --space optimizer/spaces/example.yaml \
		--generations 6 --population 12 -j 2 --out results/optimize

test: $(WARM)
	$(BIN)/python -m pytest -q

bench: $(WARM)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only -q

# Every figure and table of README.md and docs/ that comes from a run (a few minutes).
figures: $(WARM)
	$(BIN)/python docs/make_figures.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
