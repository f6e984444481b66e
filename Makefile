# CareLoop: everything one can do, in one place. `make run` and `make test` do all set-up.
PY := .venv/bin/python
PORT ?= 8000
# Tests run on real services: the machine's PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/careloop
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1
TEST_CACHE_URL ?= redis://127.0.0.1:6379/2

.PHONY: install run test lint format messages browser clean

.venv/.installed: pyproject.toml
	test -d .venv || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: .venv/.installed node_modules/.installed

# Debian's Chromium and CJK fonts for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

run: install
	mkdir -p .run/broker .run/broker-processed .run/cache
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_demo_followups
	@echo ""
	@echo "  CareLoop is starting at http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins (demo only), password careloop-demo:"
	@echo "    admin · doctor · assistant · nurse · operations"
	@echo "  Ctrl-C stops everything."
	@echo ""
	WEB_PORT=$(PORT) .venv/bin/honcho start -f Procfile

test: install browser
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run -v0
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_CACHE_URL) \
	  CELERY_BROKER_URL=$(TEST_BROKER_URL) DEBUG=1 $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Refresh the translation catalogues after changing UI strings (needs gettext). Each app keeps
# its own catalogue (APP/locale); crm and the shared templates use locale/.
APPS := patients wechat followups content
messages: install
	for app in $(APPS); do mkdir -p $$app/locale; \
	  (cd $$app && ../.venv/bin/django-admin makemessages -l zh_Hans); done
	$(PY) manage.py makemessages -l zh_Hans --ignore='.venv/*' --ignore='node_modules/*' \
	  --ignore='tests/*' $(foreach app,$(APPS),--ignore='$(app)/*')
	$(PY) manage.py compilemessages --ignore='.venv/*' --ignore='node_modules/*' 

clean:
	rm -rf .run db.sqlite3
