"""An import whose commit never ran (its broker message lost, its worker killed) does not stay
"importing" for ever: the beat job hands it to a worker again, and after a few tries puts it
back to its dry run with a message, in Chinese, saying nothing was written."""

from datetime import timedelta

from django.utils import timezone

from patients.imports import services as imports
from patients.imports.commit import MAX_REQUEUES, import_commit_request, imports_recover_stale
from patients.imports.models import ImportBatch
from patients.models import Patient
from patients.tasks import import_commit_task
from tests.test_imports import HEADER, csv_bytes, upload


def importing_batch(clinic, user):
    batch = upload(clinic, user, csv_bytes([HEADER, ["孙七", "13700137000"] + [""] * 5]))
    imports.import_check(batch=batch)
    return import_commit_request(batch=batch, actor=user)


def test_a_lost_commit_is_handed_over_again_and_then_runs_once(
    clinic, assistant, django_capture_on_commit_callbacks
):
    batch = importing_batch(clinic, assistant)
    # Fresh: a worker may still be on it.
    with django_capture_on_commit_callbacks() as enqueued:
        assert imports_recover_stale() == {"requeued": 0, "given_up": 0}
    assert enqueued == []
    later = timezone.now() + timedelta(minutes=21)
    with django_capture_on_commit_callbacks() as enqueued:
        assert imports_recover_stale(now=later) == {"requeued": 1, "given_up": 0}
    assert len(enqueued) == 1
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.IMPORTING and batch.summary["commit_requeues"] == 1
    # Requeued just now: not again at once.
    with django_capture_on_commit_callbacks() as enqueued:
        assert imports_recover_stale(now=later) == {"requeued": 0, "given_up": 0}
    assert import_commit_task.apply(args=[batch.pk]).get() == "committed"
    assert import_commit_task.apply(args=[batch.pk]).get() == "nothing to do"
    assert Patient.objects.filter(clinic=clinic).count() == 1
    assert imports_recover_stale(now=later + timedelta(hours=1)) == {"requeued": 0, "given_up": 0}


def test_after_the_last_try_the_batch_goes_back_to_its_dry_run(client, clinic, assistant):
    batch = importing_batch(clinic, assistant)
    moment = timezone.now()
    for _ in range(MAX_REQUEUES):
        moment += timedelta(minutes=21)
        assert imports_recover_stale(now=moment)["requeued"] == 1
    moment += timedelta(minutes=21)
    assert imports_recover_stale(now=moment) == {"requeued": 0, "given_up": 1}
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CHECKED
    assert Patient.objects.filter(clinic=clinic).count() == 0
    client.force_login(assistant)
    page = client.get(f"/patients/import/{batch.pk}/").content.decode()
    assert "导入未能完成" in page and "立即导入" in page
