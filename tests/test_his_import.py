import pytest
from django.core.management import call_command
from django.utils import translation

from patients.his_import import his_visits_import_file
from patients.models import Visit

pytestmark = pytest.mark.django_db

CSV = (
    "就诊编号,手机号,就诊日期,就诊类型,金额\n"
    "V-1,13800138000,2026-12-01,复诊,100\n"
    "V-2,13900000000,2026-12-01,复诊,100\n"
    "V-3,13800138000,2026/13/45,复诊,100\n"
    "V-4,13800138000,2026-12-02,初诊,-5\n"
).encode("gbk")


def test_a_gbk_csv_imports_once_and_reports_each_bad_row_in_chinese(clinic, make_patient):
    patient = make_patient(phone="13800138000")
    with translation.override("zh-hans"):
        result = his_visits_import_file(clinic=clinic, content=CSV, file_name="his.csv")
        again = his_visits_import_file(clinic=clinic, content=CSV, file_name="his.csv")
    assert result["created"] == 1
    assert [m.split("：")[0] for m in result["messages"]] == ["第3行", "第4行", "第5行"]
    assert "患者" in result["messages"][0] and "日期" in result["messages"][1]
    assert "金额" in result["messages"][2]
    assert again["created"] == 0 and again["unchanged"] == 1
    assert Visit.objects.filter(patient=patient).count() == 1


def test_a_header_without_the_visit_id_is_refused_clearly(clinic):
    with translation.override("zh-hans"):
        result = his_visits_import_file(
            clinic=clinic,
            content="手机号,就诊日期\n13800138000,2026-12-01\n".encode(),
            file_name="a.csv",
        )
    assert result["created"] == 0 and "就诊编号" in result["messages"][0]


def test_the_drop_folder_command_imports_and_moves_files(tmp_path, clinic, make_patient):
    make_patient(phone="13800138000")
    (tmp_path / "his.csv").write_bytes(CSV)
    call_command("his_import_folder", str(tmp_path), clinic=clinic.slug)
    assert not (tmp_path / "his.csv").exists()
    assert (tmp_path / "done" / "his.csv").exists()
    assert (tmp_path / "done" / "his.csv.report.txt").read_text(encoding="utf-8").count("\n") == 3
    assert Visit.objects.count() == 1
