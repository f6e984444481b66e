"""The clinic in every unique constraint, and on each delivery attempt (docs/scaling.md: a
table split by clinic needs it in each unique index)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0011_audit_actions_signin'),
        ('wechat', '0006_merge_h2'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='deliveryrecipient',
            name='deliveryrecipient_once',
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='clinic',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.clinic'),
        ),
        migrations.RunSQL(
            # A correlated subquery, not UPDATE … FROM with an alias: SQLite (the demo) takes it too.
            "UPDATE wechat_deliveryattempt SET clinic_id = (SELECT d.clinic_id FROM wechat_delivery d"
            " WHERE d.id = wechat_deliveryattempt.delivery_id)",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name='deliveryattempt',
            name='clinic',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.clinic'),
        ),
        migrations.AddConstraint(
            model_name='deliveryrecipient',
            constraint=models.UniqueConstraint(fields=('clinic', 'delivery', 'external_userid'), name='deliveryrecipient_once'),
        ),
    ]
