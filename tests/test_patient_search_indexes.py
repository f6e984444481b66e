"""Name and pinyin search at scale: the PostgreSQL indexes of migration 0005 exist, and the
two-character path (bigram index) finds exactly what a substring match finds."""

from django.db import connection
from django.db.models import Q

from patients.models import Patient


def test_search_indexes_exist(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'patients_patient'")
        names = {row[0] for row in cursor.fetchall()}
    assert {
        "patient_name_trgm",
        "patient_initials_prefix",
        "patient_name_bigrams",
        "patient_doctor_stage_created",
    } <= names


def test_two_character_search_matches_a_substring_match(make_patient, clinic, api, assistant):
    for name in ["张伟", "张伟明", "李张伟", "王伟", "张三", "Zwei Li", "赵文"]:
        make_patient(name=name)
    patients = Patient.objects.filter(clinic=clinic)
    for text in ["张伟", "伟明", "zw", "ZW", "赵文", "li"]:
        expected = set(
            patients.filter(
                Q(name__icontains=text) | Q(name_initials__startswith=text.lower())
            ).values_list("name", flat=True)
        )
        assert set(patients.search(text).values_list("name", flat=True)) == expected, text
    assert set(patients.search("张伟").values_list("name", flat=True)) == {
        "张伟",
        "张伟明",
        "李张伟",
    }
    # zw: 张伟 (zw) and 张伟明 (zwm) by initials, Zwei Li by name; 赵文 is zw too.
    assert set(patients.search("zw").values_list("name", flat=True)) == {
        "张伟",
        "张伟明",
        "Zwei Li",
        "赵文",
    }
    # Through the API, with the list's other filters.
    found = api(assistant).get("/api/patients/", {"q": "张伟", "stage": "lead"}).json()
    assert {row["name"] for row in found["results"]} == {"张伟", "张伟明", "李张伟"}
