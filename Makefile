# The two set-up commands of the README: `make demo` and `make test`.
# Both install everything they need (Debian packages, uv, Python packages) and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
# chromium: the browser the UI tests drive through Playwright (which never downloads its own).
# systemd: systemd-analyze, which verifies the services' units (infra/systemd/).
# postgresql: the Prefect server's database with `fleet up --prefect-database postgresql`.
APT_PACKAGES := python3 python3-venv mosquitto postgresql ca-certificates \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-opencv \
  gstreamer1.0-libav python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp \
  chromium systemd
VENV := .venv
UV := .tools/bin/uv
# cfn-lint pins a pydantic older than the product's: it gets a virtualenv of its own.
CFN_LINT_VERSION := 1.51.0
CFN_LINT := .tools/cfn-lint/bin/cfn-lint
export UV_PYTHON_DOWNLOADS := never

.PHONY: install system-packages python-packages demo test lint typecheck clean

install: system-packages python-packages $(CFN_LINT)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q uv==$(UV_VERSION)

$(CFN_LINT):
	$(PYTHON) -m venv .tools/cfn-lint
	.tools/cfn-lint/bin/pip install -q cfn-lint==$(CFN_LINT_VERSION)

python-packages: $(UV)
	$(UV) sync --quiet --python $$(command -v $(PYTHON)) --extra cloud --extra local --group dev

demo: install
	$(VENV)/bin/fleet demo

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=30

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .tools
