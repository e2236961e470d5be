# Two commands for a new user: `make demo` and `make test`.
# Each installs what it needs: Debian/Ubuntu packages when missing, then a venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# fonts-khmeros: the Khmer faces the report's page and charts name; tesseract-ocr(-khm) and
# poppler-utils (pdftoppm): the test that reads a Khmer report's PDF back with OCR. tmux: the
# test that reads the demo's live view (in Khmer) off a terminal screen.
APT_PACKAGES := mosquitto influxdb victoria-metrics docker-compose chromium fonts-khmeros \
	tesseract-ocr tesseract-ocr-khm poppler-utils tmux
STAMP := $(VENV)/.installed
# Two workers (pytest-xdist): most tests wait on real mosquitto, influxd and Chromium, so two
# share the 2 cores well and keep `make test` well inside 20 minutes.
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint dashboards system-deps venv clean

demo: system-deps $(STAMP)
	$(BIN)/tonle demo $(ARGS)

test: system-deps $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The Khmer dashboards up to date, ruff (lint and format), the import contracts of
# .importlinter, mypy on the foundation.
lint: $(STAMP)
	$(BIN)/python -m tonle.app.dashboards --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The dashboards in every language: dashboards/km/*.json from dashboards/en/*.json and the
# Khmer catalogue (tonle/app/dashboards.py). Run after editing either; commit the result.
dashboards: $(STAMP)
	$(BIN)/python -m tonle.app.dashboards

# Install only what is missing, so a configured machine is never touched.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	command -v victoria-metrics >/dev/null || missing="$$missing victoria-metrics"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -d /usr/share/fonts/truetype/khmeros ] || missing="$$missing fonts-khmeros"; \
	command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
	ls /usr/share/tesseract-ocr/*/tessdata/khm.traineddata >/dev/null 2>&1 || missing="$$missing tesseract-ocr-khm"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null || \
	  { echo "Could not install$$missing. Install them with: sudo apt-get install$$missing"; exit 1; }; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

clean:
	rm -rf $(VENV) run .pytest_cache .ruff_cache
