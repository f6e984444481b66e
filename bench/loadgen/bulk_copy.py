"""COPY plumbing shared by the load generators (bench.loadgen.patients, bench.loadgen.followups): rows
are buffered as CSV and written with PostgreSQL COPY, ids are assigned by the generator so
related rows can point at each other before they exist, and sequences move past them after."""

import csv
import io
import json

from django.db import connection, models

CHUNK = 100_000


def _defaults(model, columns) -> dict[str, object]:
    """The model's other NOT NULL columns with their defaults, so a field added to a model
    after the generator was written gets the value the ORM would give it."""
    filled = {}
    for field in model._meta.concrete_fields:
        if field.column in columns or field.null or field.primary_key:
            continue
        value = field.get_default()  # "" for a text field without a default
        if value is None:
            continue
        if isinstance(field, models.JSONField):
            value = json.dumps(value)
        elif isinstance(value, list):
            value = "{" + ",".join(str(v) for v in value) + "}"
        filled[field.column] = value
    return filled


class Copier:
    """Buffers CSV rows for one model's table and COPYs them in chunks."""

    def __init__(self, model, columns):
        self.defaults = _defaults(model, columns)
        self.table = model._meta.db_table
        self.columns = [*columns, *self.defaults]
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)
        self.pending = 0
        self.total = 0

    def add(self, row):
        row = [*row, *self.defaults.values()]
        self.writer.writerow(["\\N" if v is None else v for v in row])
        self.pending += 1
        if self.pending >= CHUNK:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        self.buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                self.buffer,
            )
        self.total += self.pending
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)
        self.pending = 0


class Ids:
    """The next free id of each model's table, handed out by the generator."""

    def __init__(self, *models):
        self.ids = {model: first_free_id(model) for model in models}

    def next(self, model):
        value = self.ids[model]
        self.ids[model] += 1
        return value


def first_free_id(model):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
        return cursor.fetchone()[0]


def reset_sequence(model):
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
        )


def begin_bulk_load():
    """Checks the database and speeds up the load, inside the caller's transaction."""
    if connection.vendor != "postgresql":
        raise RuntimeError(
            "generate_load writes with PostgreSQL COPY; set DATABASE_URL to PostgreSQL."
        )
    # The rows are consistent by construction; skipping the per-row foreign-key triggers
    # (a superuser setting, local to this transaction) makes the load several times faster.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")


def analyze():
    """Fresh planner statistics after a bulk load, and the visibility map set (VACUUM), so
    index-only scans work at once instead of after autovacuum gets to the new tables.
    VACUUM cannot run inside a transaction (a test's, say): there, statistics only."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
