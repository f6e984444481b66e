"""Key rotation: every encrypted column is re-encrypted with the first encryption key and every
lookup hash recomputed with the first hash key, model by model, in batches, each batch in its
own transaction. Models declare their columns in `encrypted_fields` (crm.crypto), so crm needs
no import of the apps that own them."""

from django.apps import apps
from django.db import transaction

from crm import crypto


def encrypted_models():
    return [m for m in apps.get_models() if getattr(m, "encrypted_fields", None)]


def field_keys_rotate(*, batch_size: int = 1000) -> dict[str, int]:
    crypto.keys_changed()
    done = {}
    for model in encrypted_models():
        fields = model.encrypted_fields
        columns = [*fields, *(h for h in fields.values() if h)]
        count, last = 0, 0
        while True:
            with transaction.atomic():
                rows = list(
                    model._default_manager.select_for_update()
                    .filter(pk__gt=last)
                    .order_by("pk")
                    .only("pk", *columns)[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    for column, hash_column in fields.items():
                        token = getattr(row, column)
                        if not token:
                            continue
                        if hash_column:
                            setattr(row, hash_column, crypto.lookup_hash(crypto.decrypt(token)))
                        setattr(row, column, crypto.rotate(token))
                model._default_manager.bulk_update(rows, columns)
                count += len(rows)
                last = rows[-1].pk
        done[model._meta.label] = count
    return done
