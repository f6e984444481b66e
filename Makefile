# CareLoop: everything one can do, in one place. `make run` and `make test` do all set-up.
PY := .venv/bin/python
PORT ?= 8000
# Tests run on real services: the machine's PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/careloop
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1
TEST_CACHE_URL ?= redis://127.0.0.1:6379/2
# Parallel test processes (pytest-xdist): each has its own test database (test_careloop_gw0, …)
# and its own Redis keys (REDIS_KEY_PREFIX, tests/conftest.py). 0: one process. `make test`
# runs in one process by default: its browser and real-worker tests have not yet been timed in
# parallel on two cores; the inner loop (`make test-fast`) runs in two.
TEST_WORKERS ?= 0
FAST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist worksteal

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/careloop_bench
PATIENTS ?= 10000
TOUCHES ?= 100000
DUE_AT_NINE ?= 100000

.PHONY: install run test test-fast replica-access fuzz lint format messages browser clean bench-data bench

.venv/.installed: pyproject.toml
	test -d .venv || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: .venv/.installed node_modules/.installed

# The benchmark tools (locust): the smoke run in `make test` drives the benchmark with them.
.venv/.bench-installed: .venv/.installed
	.venv/bin/pip install -q -e ".[dev,bench]"
	touch $@

# Debian's Chromium and CJK fonts for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

# The demo runs the fake WeCom too (Procfile), and every process is pointed at it.
FAKE_WECOM_PORT ?= 8765
run: export WECOM_API_BASE_URL = http://127.0.0.1:$(FAKE_WECOM_PORT)/cgi-bin/
run: export WECOM_FAKE_CONTROL_URL = http://127.0.0.1:$(FAKE_WECOM_PORT)/_fake/
run: export FAKE_WECOM_PORT := $(FAKE_WECOM_PORT)
run: export SITE_URL = http://127.0.0.1:$(PORT)
run: install
	mkdir -p .run/broker .run/broker-processed .run/cache
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_doctors_demo
	@# Demo-only WeCom settings for the demo clinic (the fake accepts any); safe to run twice.
	$(PY) manage.py wecom_configure --clinic demo --corp-id ww-demo-corp --agent-id 1000002 \
	  --secret demo-only-secret --token demo-only-token \
	  --aes-key Y2FyZWxvb3AtZGVtby1vbmx5LWFlcy1rZXktMDAwMDA --robot-key demo-only-robot
	$(PY) manage.py seed_demo_followups
	$(PY) manage.py seed_demo_content
	@echo ""
	@echo "  CareLoop is starting at http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins (demo only), password CareLoop-demo-1:"
	@echo "    admin · doctor · assistant · nurse · operations"
	@echo "  admin also enters a second-factor code (demo-only authenticator secret"
	@echo "    MNQXEZLMN5XXALLEMVWW6LLUN52HAIJB; or the current code: $(PY) manage.py totp_code admin)"
	@echo "  Channel codes (模拟扫码 simulates a scan): http://127.0.0.1:$(PORT)/wechat/channel-codes/"
	@echo "  Fake WeCom: $$WECOM_API_BASE_URL (state: $${WECOM_FAKE_CONTROL_URL}state)"
	@echo "  Ctrl-C stops everything."
	@echo ""
	WEB_PORT=$(PORT) .venv/bin/honcho start -f Procfile

# The read-replica tests stream from the machine's PostgreSQL (tests/replica.py makes the
# replica on port 5433): allow replication connections from localhost, trusted as the
# machine's other local connections are.
replica-access:
	@hba=$$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "show hba_file") && \
	  { grep -q "^host[[:space:]]*replication" "$$hba" || \
	    { echo "host replication postgres 127.0.0.1/32 trust" >> "$$hba" && \
	      psql -h 127.0.0.1 -U postgres -d postgres -qAtc "select pg_reload_conf()" >/dev/null; }; }

test: install .venv/.bench-installed browser replica-access
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run -v0
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_CACHE_URL) \
	  CELERY_BROKER_URL=$(TEST_BROKER_URL) DEBUG=1 $(PY) -m pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The inner loop: everything but the browser, real-worker, fuzz and slow tests (pyproject's markers).
test-fast: install replica-access
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_CACHE_URL) \
	  CELERY_BROKER_URL=$(TEST_BROKER_URL) DEBUG=1 $(PY) -m pytest -q -n $(FAST_WORKERS) --dist worksteal \
	  -m "not browser and not worker and not fuzz and not slow" $(PYTEST_ARGS)

# Schemathesis with fresh random seeds and more examples than `make test`'s reproducible run.
fuzz: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_CACHE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  FUZZ_RANDOM=1 FUZZ_EXAMPLES=200 $(PY) -m pytest -q tests/test_api_fuzz.py

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Refresh the translation catalogues after changing UI strings (needs gettext). Each app keeps
# its own catalogue (APP/locale); crm and the shared templates use locale/.
APPS := patients wechat followups content doctors workspace
messages: install
	for app in $(APPS); do mkdir -p $$app/locale; \
	  (cd $$app && ../.venv/bin/django-admin makemessages -l zh_Hans); done
	$(PY) manage.py makemessages -l zh_Hans --ignore='.venv/*' --ignore='node_modules/*' \
	  --ignore='tests/*' $(foreach app,$(APPS),--ignore='$(app)/*')
	$(PY) manage.py compilemessages --ignore='.venv/*' --ignore='node_modules/*' 

# A fresh benchmark database with generate_load's dataset (see bench/README.md).
bench-data: install .venv/.bench-installed
	$(PY) bench/fresh_database.py $(BENCH_DATABASE_URL)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py generate_load --patients $(PATIENTS) --touches $(TOUCHES) \
	  --due-at-nine $(DUE_AT_NINE) --seed 1

bench: install .venv/.bench-installed
	$(PY) bench/http_load.py --database-url $(BENCH_DATABASE_URL)

clean:
	rm -rf .run db.sqlite3
