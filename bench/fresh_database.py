"""Drop and recreate the database named in a PostgreSQL URL (benchmark databases only)."""

import sys
from urllib.parse import urlparse

import psycopg2

url = urlparse(sys.argv[1])
name = url.path.lstrip("/")
if not name.endswith("bench"):
    raise SystemExit(f"Refusing to drop '{name}': benchmark database names end with 'bench'.")
connection = psycopg2.connect(
    host=url.hostname,
    port=url.port or 5432,
    user=url.username or "postgres",
    password=url.password,
    dbname="postgres",
)
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cursor.execute(f'CREATE DATABASE "{name}"')
print(f"fresh database {name}")
