"""Importing patients from .xlsx and .csv: mapping, dry run, errors in Chinese, duplicates,
all-or-nothing commit, report, audit. Files are built here, byte for byte."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from crm.models import AuditEvent
from patients.imports import services as imports
from patients.imports.commit import import_commit
from patients.imports.files import ImportFileError
from patients.imports.models import ImportBatch
from patients.models import Patient, Touch
from patients.tasks import import_commit_task
from tests.celery_worker import Worker, broker_purge, wait_until
from tests.conftest import login, screenshot, tag

pytestmark = pytest.mark.django_db

HEADER = ["姓名", "手机号", "性别", "出生日期", "来源", "标签", "备注"]


def csv_bytes(rows, encoding="utf-8"):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode(encoding)


def xlsx_bytes(build):
    workbook = Workbook()
    build(workbook.active)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(clinic, user, content, name="patients.csv"):
    return imports.import_create(clinic=clinic, user=user, upload=SimpleUploadedFile(name, content))


def check(batch, on_duplicate="skip"):
    batch.on_duplicate = on_duplicate
    batch.save()
    return imports.import_check(batch=batch)


def test_gbk_csv_maps_columns_and_creates_nothing_until_confirmed(clinic, assistant):
    content = csv_bytes(
        [HEADER, ["张三", "138 0013 8000", "男", "1980/5/6", "门诊", "糖尿病、轻度", "老病人"]],
        encoding="gbk",
    )
    batch = upload(clinic, assistant, content)
    assert batch.mapping == {
        "name": 0,
        "phone": 1,
        "gender": 2,
        "birth_date": 3,
        "source": 4,
        "source_detail": None,
        "tags": 5,
        "notes": 6,
    }
    check(batch)
    assert batch.summary["create"] == 1 and batch.summary["error"] == 0
    assert Patient.objects.count() == 0 and Touch.objects.count() == 0
    import_commit(batch=batch, actor=assistant)
    patient = Patient.objects.get()
    assert (patient.name, patient.phone, patient.gender) == ("张三", "+8613800138000", "male")
    assert str(patient.birth_date) == "1980-05-06" and patient.source == "walk_in"
    assert sorted(patient.tags.names()) == ["糖尿病", "轻度"]
    assert patient.touches.count() == 2 and patient.transitions.count() == 1
    event = AuditEvent.objects.get(action="import")  # beside the sign-in's own event
    assert (event.action, event.user, event.detail["create"]) == ("import", assistant, 1)


def test_utf8_bom_errors_in_chinese_and_all_or_nothing(clinic, assistant):
    rows = [HEADER] + [[f"患者{i}", f"1390013{i:04d}", "", "", "", "", ""] for i in range(9)]
    rows.append(["李四", "12345", "女", "", "", "", ""])  # row 11: bad phone
    rows.append(["", "13900139999", "外星", "2999-01-01", "火星", "不存在的标签", ""])  # row 12
    content = b"\xef\xbb\xbf" + csv_bytes(rows)
    batch = check(upload(clinic, assistant, content))
    assert batch.header == HEADER  # the BOM is not part of the first column's name
    assert batch.summary["error"] == 2 and batch.summary["create"] == 9
    messages = {r[0]: r[4] for r in batch.results if r[1] == "error"}
    assert messages[11] == "第11行：手机号格式不正确"
    assert messages[12].startswith("第12行：姓名为空")
    for part in ("性别“外星”", "出生日期", "来源“火星”", "标签“不存在的标签”不存在"):
        assert part in messages[12]
    with pytest.raises(ValidationError):
        import_commit(batch=batch, actor=assistant)
    assert Patient.objects.count() == 0
    assert not AuditEvent.objects.exists()


def test_duplicates_by_phone_skip_or_merge(clinic, assistant, make_patient):
    existing = make_patient(name="王五", phone="13800135555")
    rows = [HEADER, ["王五（旧档）", "13800135555", "女", "", "", "失眠", "青霉素过敏"]]
    rows.append(["赵六", "13800136666", "", "", "", "", ""])
    rows.append(["赵六重复", "13800136666", "", "", "", "", ""])  # same phone twice in the file
    batch = check(upload(clinic, assistant, csv_bytes(rows)))
    assert [r[1] for r in batch.results] == ["skip", "create", "error"]
    assert batch.results[2][4] == "第4行：手机号与本文件第3行重复"

    rows.pop()
    batch = check(upload(clinic, assistant, csv_bytes(rows)), on_duplicate="merge")
    assert [r[1] for r in batch.results] == ["merge", "create"]
    import_commit(batch=batch, actor=assistant)
    existing.refresh_from_db()
    # Merge fills what the record lacked and adds tags; it never renames the patient.
    assert existing.name == "王五" and existing.gender == "female"
    assert existing.notes == "青霉素过敏" and list(existing.tags.names()) == ["失眠"]
    assert Patient.objects.count() == 2


def test_xlsx_with_title_merged_cells_empty_rows_and_a_formula(clinic, assistant):
    def build(sheet):
        sheet.append(["康复医馆患者名单"])
        sheet.merge_cells("A1:G1")
        sheet.append(HEADER)
        sheet.append(["甲", 13800131111, "男", None, "门诊", "术后", None])
        sheet.append(["乙", "13800132222", None, None, None, None, None])
        sheet.merge_cells("E3:E4")  # one source for both rows
        sheet.append([None] * 7)  # an empty row
        sheet.append(["丙", '=A3&"1"', None, None, None, None, None])

    batch = check(upload(clinic, assistant, xlsx_bytes(build), "名单.xlsx"))
    assert batch.header_row == 2 and batch.header == HEADER
    assert batch.summary["rows"] == 3  # the empty row is skipped
    assert [r[1] for r in batch.results] == ["create", "create", "error"]
    assert "第6行" in batch.results[2][4] and "公式" in batch.results[2][4]
    assert "3–4" in batch.summary["warnings"][0]
    assert Patient.objects.count() == 0
    # Without the formula row the same sheet imports, the merged source reaching both rows.
    batch = check(
        upload(clinic, assistant, xlsx_bytes(lambda s: (build(s), s.delete_rows(6))), "b.xlsx")
    )
    import_commit(batch=batch, actor=assistant)
    assert dict(Patient.objects.values_list("name", "source")) == {
        "甲": "walk_in",
        "乙": "walk_in",
    }
    assert Patient.objects.get(name="甲").phone == "+8613800131111"


def test_unreadable_files_are_refused(clinic, assistant):
    with pytest.raises(ImportFileError):
        upload(clinic, assistant, b"\xd0\xcf\x11\xe0old excel", "old.xls")
    with pytest.raises(ImportFileError):
        upload(clinic, assistant, b"PK\x03\x04broken", "broken.xlsx")
    with pytest.raises(ImportFileError):
        upload(clinic, assistant, b"just one line", "one.csv")
    assert not ImportBatch.objects.exists()


def test_fifty_thousand_rows(clinic, assistant):
    sugar = tag(clinic, "糖尿病")
    rows = [HEADER] + [
        [
            f"患者{i}",
            f"139{i:08d}",
            "女" if i % 2 else "男",
            "",
            "",
            sugar.name if i % 3 else "",
            "",
        ]
        for i in range(50_000)
    ]
    batch = check(upload(clinic, assistant, csv_bytes(rows, "gbk")))
    assert batch.summary["create"] == 50_000 and batch.summary["error"] == 0
    assert Patient.objects.count() == 0
    import_commit(batch=batch, actor=assistant)
    assert Patient.objects.filter(clinic=clinic).count() == 50_000
    assert Patient.objects.filter(tagged_items__tag=sugar).count() == 33_333
    assert Patient.objects.search("9999").filter(name="患者49999").exists()


def _post_file(client, content, name):
    return client.post("/patients/import/", {"file": SimpleUploadedFile(name, content)})


def test_import_pages_end_to_end(client, assistant, clinic):
    client.force_login(assistant)
    assert "导入患者" in client.get("/patients/import/").content.decode()
    response = _post_file(client, csv_bytes([HEADER, ["孙七", "13700137000"] + [""] * 5]), "a.csv")
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    review = client.get(response.url).content.decode()
    assert "孙七" in review and "试运行" in review
    form = {f"map_{f}": "" if i is None else str(i) for f, i in batch.mapping.items()}
    response = client.post(response.url, {**form, "action": "check", "on_duplicate": "skip"})
    assert response.status_code == 302
    assert Patient.objects.count() == 0
    assert "立即导入" in client.get(response.url).content.decode()
    report = client.get(f"/patients/import/{batch.pk}/report.csv")
    assert "新建" in b"".join(report.streaming_content).decode("utf-8")
    response = client.post(f"/patients/import/{batch.pk}/", {"action": "commit"})
    assert response.status_code == 302
    # The web request only hands the commit to a worker; the page says it is running.
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.IMPORTING and batch.committed_by == assistant
    running = client.get(response.url).content.decode()
    assert "正在导入" in running and 'http-equiv="refresh"' in running and "立即导入" not in running
    assert client.post(response.url, {"action": "commit"}).status_code == 200
    assert Patient.objects.count() == 0
    assert import_commit_task.apply(args=[batch.pk]).get() == "committed"
    assert import_commit_task.apply(args=[batch.pk]).get() == "nothing to do"
    assert Patient.objects.get().name == "孙七"
    done = client.get(response.url + "?done=1").content.decode()
    assert "导入完成：新建 1 位" in done and "正在导入" not in done


def test_a_commit_refused_by_the_worker_returns_to_the_dry_run(client, assistant, clinic):
    """A tag of the file deleted after the dry run: the worker writes nothing and the page
    shows why, in Chinese, with the button to import again once the file is fixed."""
    gone = tag(clinic, "糖尿病")
    rows = [HEADER, ["孙七", "13700137000", "", "", "", gone.name, ""]]
    batch = upload(clinic, assistant, csv_bytes(rows))
    imports.import_check(batch=batch)
    assert batch.summary["error"] == 0
    client.force_login(assistant)
    assert client.post(f"/patients/import/{batch.pk}/", {"action": "commit"}).status_code == 302
    gone.delete()
    assert import_commit_task.apply(args=[batch.pk]).get() == "refused"
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CHECKED and batch.summary["commit_errors"]
    page = client.get(f"/patients/import/{batch.pk}/").content.decode()
    assert "第2行" in page and "糖尿病" in page and "不存在" in page
    assert Patient.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_real_worker_commits_the_import(client, assistant, clinic, fake_wecom_server):
    broker_purge()
    rows = [HEADER] + [[f"患者{i}", f"1370013{i:04d}"] + [""] * 5 for i in range(300)]
    batch = upload(clinic, assistant, csv_bytes(rows))
    imports.import_check(batch=batch)
    client.force_login(assistant)
    worker = Worker(wecom_base_url=fake_wecom_server[1], concurrency=1).start()
    try:
        assert client.post(f"/patients/import/{batch.pk}/", {"action": "commit"}).status_code == 302
        assert wait_until(
            lambda: ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.COMMITTED,
            timeout=60,
        ), worker.log.read_text()[-2000:]
    finally:
        worker.stop()
    assert Patient.objects.filter(clinic=clinic).count() == 300
    assert AuditEvent.objects.filter(object_type="import", object_id=str(batch.pk)).count() == 1


def test_import_pages_errors_roles_and_outsiders(client, assistant, nurse, outsider, clinic):
    client.force_login(assistant)
    response = _post_file(client, b"old", "x.xls")
    assert response.status_code == 400 and "xlsx" in response.content.decode()
    batch = upload(clinic, assistant, csv_bytes([HEADER, ["甲", "", "", "", "", "", ""]]))
    unmapped = client.post(f"/patients/import/{batch.pk}/", {"action": "check"})
    assert unmapped.status_code == 400 and "姓名" in unmapped.content.decode()
    client.force_login(nurse)
    assert client.get("/patients/import/").status_code == 403
    client.force_login(outsider)
    assert client.get(f"/patients/import/{batch.pk}/").status_code == 404
    assert client.get(f"/patients/import/{batch.pk}/report.csv").status_code == 404
    assert client.post(f"/patients/import/{batch.pk}/", {"action": "commit"}).status_code == 404
    assert Patient.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_browser_import_runs_in_the_background(
    page, assistant, clinic, fake_wecom_server, tmp_path
):
    """An assistant uploads, dry-runs and imports in the browser; the page shows the import
    running, then refreshes itself to the result once the worker is done."""
    broker_purge()
    rows = [HEADER] + [[f"患者{i}", f"1370014{i:04d}"] + [""] * 5 for i in range(200)]
    file = tmp_path / "患者.csv"
    file.write_bytes(csv_bytes(rows))
    login(page, assistant.username)
    page.goto("/patients/import/")
    page.set_input_files("input[type=file]", str(file))
    page.locator("form button[type=submit]").first.click()
    page.click("button[value=check]")
    page.click("button[value=commit]")
    running = page.get_by_test_id("import-running")
    assert "正在导入 200 行" in running.inner_text()
    screenshot(page, "import-running")
    worker = Worker(wecom_base_url=fake_wecom_server[1], concurrency=1).start()
    try:
        page.get_by_text("导入完成：新建 200 位").wait_for(timeout=60_000)
    finally:
        worker.stop()
    assert page.get_by_test_id("import-status").inner_text() == "已导入"
    screenshot(page, "import-done")
    assert Patient.objects.filter(clinic=clinic).count() == 200
