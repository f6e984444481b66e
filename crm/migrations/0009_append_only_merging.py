"""A patient merge moves the duplicate's timeline to the survivor: while the transaction-local
setting careloop.merging names a subject (the duplicate's id), that subject's rows may change
their subject column and nothing else. Everything else is as in 0003_append_only."""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION careloop_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  old_row jsonb;
  new_row jsonb;
  i integer;
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF current_setting('careloop.archiving', true) = 'on' THEN
      RETURN OLD;
    END IF;
  ELSE
    old_row := to_jsonb(OLD);
    new_row := to_jsonb(NEW);
    IF TG_NARGS > 0 AND new_row ->> TG_ARGV[0] IS NULL
       AND (new_row - TG_ARGV[0]) = (old_row - TG_ARGV[0]) THEN
      RETURN NEW;
    END IF;
    IF TG_NARGS > 1 AND old_row ->> TG_ARGV[1] IS NOT NULL
       AND current_setting('careloop.merging', true) = old_row ->> TG_ARGV[1]
       AND (new_row - TG_ARGV[1]) = (old_row - TG_ARGV[1]) THEN
      RETURN NEW;
    END IF;
    IF TG_NARGS > 2 AND old_row ->> TG_ARGV[1] IS NOT NULL
       AND current_setting('careloop.erasing', true) = old_row ->> TG_ARGV[1] THEN
      FOR i IN 2 .. TG_NARGS - 1 LOOP
        old_row := old_row - TG_ARGV[i];
        new_row := new_row - TG_ARGV[i];
      END LOOP;
      IF new_row = old_row THEN
        RETURN NEW;
      END IF;
    END IF;
  END IF;
  RAISE EXCEPTION 'careloop: rows of % are append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = '42501';
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("crm", "0008_audit_actions_security")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
