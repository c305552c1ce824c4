# The two commands of the README, and a few helpers. Each installs what is missing first.
.PHONY: run stop status test lint bootstrap

bootstrap:
	@scripts/bootstrap.sh

## Run the whole gateway with demo data (Ctrl-C stops it).
run: bootstrap
	@.venv/bin/gateway run

## Stop what `make run` started (from another terminal).
stop:
	@.venv/bin/gateway stop

status:
	@.venv/bin/gateway status

## Run the whole test suite against real Keycloak, Redis, SoftHSM2 and the test PKI.
test:
	@BOOTSTRAP_FOR=test scripts/bootstrap.sh
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy
	@.venv/bin/lint-imports
