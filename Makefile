# Two entry points for a fresh machine (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extras for `make test` (the plug-in env packages are small); CI adds envpool (about 0.7 GB of assets) and
# mujoco so they are tested too.
EXTRAS ?= dev,atari,minigrid,minatar,export,tune,box2d,wandb

.PHONY: install run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch would pull a multi-GB CUDA build.
# The swing-up reference package is installed without its deps: it declares pygame, which would
# overwrite gymnasium's pygame-ce; it only serves the parity test.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps gymnasium-cartpole-swingup==0.1.8
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/reinforce train --preset cartpole --out runs/cartpole --force

test: install
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) runs .pytest_cache
