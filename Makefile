# simtest: two commands on a fresh machine.
#   make demo   create .venv, install, gate driving-perception@1.2 against @1.1 and @1.0
#   make test   create .venv if needed, install with test extras, run the fast test suite
PYTHON      ?= python3
VENV        ?= .venv
# The CPU build of torch; override e.g. `make demo TORCH_SPEC='torch==2.14.1'`.
TORCH_SPEC  ?= torch==2.13.0
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
TEST_STAMP  := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: demo demo-recsys demo-grasp test test-all bench validate clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e . "$(TORCH_SPEC)"
	touch $@

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[test]" "$(TORCH_SPEC)"
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/simtest gate --suite scenarios/driving/smoke.yaml \
	  --candidate driving-perception@1.2 --baseline driving-perception@1.1 \
	  --reference driving-perception@1.0 --out .simtest/reports/demo; \
	  rc=$$?; echo "simtest gate exited $$rc (0 pass, 1 regression, 2 bad input, 3 invalid run)"; \
	  test $$rc -le 1

demo-recsys: $(STAMP)
	$(VENV)/bin/simtest gate --suite scenarios/recsys/smoke.yaml \
	  --candidate recsys-ranker@1.2 --baseline recsys-ranker@1.1 \
	  --reference recsys-ranker@1.0 --out .simtest/reports/demo-recsys; \
	  rc=$$?; echo "simtest gate exited $$rc"; test $$rc -le 1

# Grasping: first the previous version against the pinned reference (passes), then the candidate
# against both (fails on the small-parts slice). The second gate reuses the first's runs.
demo-grasp: $(STAMP)
	$(VENV)/bin/simtest gate --suite scenarios/grasp/smoke.yaml \
	  --candidate grasp-perception@1.1 --baseline grasp-perception@1.0 \
	  --out .simtest/reports/demo-grasp-1.1; \
	  rc=$$?; echo "simtest gate (1.1 vs 1.0) exited $$rc"; test $$rc -eq 0
	$(VENV)/bin/simtest gate --suite scenarios/grasp/smoke.yaml \
	  --candidate grasp-perception@1.2 --baseline grasp-perception@1.1 \
	  --reference grasp-perception@1.0 --out .simtest/reports/demo-grasp; \
	  rc=$$?; echo "simtest gate (1.2 vs 1.1 and 1.0) exited $$rc (0 pass, 1 regression, 2 bad input, 3 invalid run)"; \
	  test $$rc -le 1

test: $(TEST_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: $(TEST_STAMP)
	$(PY) -m pytest -q -m "" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

validate: $(STAMP)
	$(VENV)/bin/simtest validate scenarios

clean:
	rm -rf $(VENV) .simtest build *.egg-info
