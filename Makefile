# The two commands of the README, and a few helpers. Each installs what is missing first.
.PHONY: run stop status test test-ha lint bootstrap

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
	@.venv/bin/python -m pytest -m "not ha" $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-ha

## The production topology's failure tests alone (tests/ha): after the others, on the same cores.
## "No test selected" (exit 5, PYTEST_ARGS naming other tests) is not a failure.
test-ha:
	@BOOTSTRAP_FOR=test scripts/bootstrap.sh
	@.venv/bin/python -m pytest -m ha $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: bootstrap
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy
	@.venv/bin/lint-imports
