"""Timeline entries are append-only in the database itself (PostgreSQL; crm migration 0003's
function). A deleted user's entries lose the actor link; patient erasure may rewrite the
summary and payload of that one patient's entries; nothing else changes or deletes them."""

from django.db import migrations

TRIGGER = """
CREATE TRIGGER patients_touch_append_only BEFORE UPDATE OR DELETE ON patients_touch
FOR EACH ROW EXECUTE FUNCTION careloop_append_only('actor_id', 'patient_id', 'summary', 'payload');
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS patients_touch_append_only ON patients_touch")


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_dailyfigure_surveys"), ("crm", "0003_append_only")]

    operations = [migrations.RunPython(forwards, backwards)]
