"""Audit events are append-only in the database itself (PostgreSQL; the SQLite demo has no
trigger). The function is shared with the patients' timeline (patients migration 0010).

Trigger arguments: the user column (a deleted user's rows may lose that link, ON DELETE SET
NULL, and nothing else), then optionally the subject column and the columns patient erasure may
rewrite for that one subject (transaction-local setting careloop.erasing = the subject's id).
DELETE passes only with the transaction-local setting careloop.archiving = 'on' (crm.audit).
"""

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

TRIGGER = """
CREATE TRIGGER crm_auditevent_append_only BEFORE UPDATE OR DELETE ON crm_auditevent
FOR EACH ROW EXECUTE FUNCTION careloop_append_only('user_id');
"""

DROP = """
DROP TRIGGER IF EXISTS crm_auditevent_append_only ON crm_auditevent;
DROP FUNCTION IF EXISTS careloop_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_audit_actions")]

    operations = [migrations.RunPython(forwards, backwards)]
