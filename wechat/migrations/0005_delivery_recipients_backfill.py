"""One recipient row for each customer message enqueued before recipient rows existed, so
that the caps count them and the results poll asks WeCom what became of them."""

from django.db import migrations

BATCH = 2000


def backfill(apps, schema_editor):
    Delivery = apps.get_model("wechat", "Delivery")
    DeliveryRecipient = apps.get_model("wechat", "DeliveryRecipient")
    rows = (
        Delivery.objects.filter(channel="customer_message", recipient_rows__isnull=True)
        .values_list("pk", "clinic_id", "patient_id", "recipient", "status", "created_at")
        .iterator(chunk_size=BATCH)
    )
    batch = []
    for pk, clinic_id, patient_id, recipient, status, created_at in rows:
        given_up = status in ("dead", "skipped", "missed")
        batch.append(
            DeliveryRecipient(
                delivery_id=pk,
                clinic_id=clinic_id,
                patient_id=patient_id,
                external_userid=recipient,
                status="failed" if given_up else "pending",
                updated_at=created_at,
            )
        )
        if len(batch) >= BATCH:
            DeliveryRecipient.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    DeliveryRecipient.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("wechat", "0004_delivery_recipients")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
