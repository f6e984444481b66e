"""Surveys with several questions: the editor's rules, the score rule, the public answer page
(required questions, bad input never a 500), answers per question, the visit or appointment a
survey asks about, the staff pages and the nested API."""

from datetime import date
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError

from content.models import QuestionKind, SurveyAnswer, SurveyInvitation, SurveyQuestion
from content.surveys import survey_answer, survey_invite, survey_save
from followups import clock
from followups.models import FollowUpTask
from followups.services import triggers_scan
from patients.choices import TouchKind
from patients.dashboard.retention import satisfaction
from patients.services import visit_record

pytestmark = pytest.mark.django_db

QUESTIONS = [
    {"kind": "single", "text": "您是第几次来本院？", "choices": ["第一次", "复诊"]},
    {"kind": "score", "text": "医生的解释清楚吗？", "counts": True},
    {"kind": "multiple", "text": "哪些方面满意？", "choices": ["环境", "等候时间", "医生"]},
    {"kind": "score", "text": "候诊时间？", "counts": True},
    {"kind": "score", "text": "会推荐给朋友吗？", "counts": False, "required": False},
    {"kind": "text", "text": "其他建议", "required": False},
]


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="门诊体验", scale=5, questions=QUESTIONS)


@pytest.fixture
def patient(make_patient):
    return make_patient(name="周八")


def qs(survey):
    return list(survey.questions.order_by("position"))


def answer_data(survey, single="c2", score1="5", multiple=("c1", "c3"), score2="4", text="很好"):
    q = qs(survey)
    data = {f"q{q[0].pk}": single, f"q{q[1].pk}": score1, f"q{q[3].pk}": score2}
    data[f"q{q[2].pk}"] = list(multiple)
    data[f"q{q[5].pk}"] = text
    return data


def path(invitation):
    return urlparse(invitation.link).path


def test_questions_are_saved_in_order_with_choice_ids(survey):
    q = qs(survey)
    assert [x.position for x in q] == [1, 2, 3, 4, 5, 6]
    assert [x.kind for x in q] == ["single", "score", "multiple", "score", "score", "text"]
    assert q[0].choices == [{"id": "c1", "label": "第一次"}, {"id": "c2", "label": "复诊"}]
    assert [x.counts for x in q] == [False, True, False, True, False, False]
    assert all(x.clinic_id == survey.clinic_id for x in q)


def test_editing_keeps_choice_ids_by_label_and_reorders(clinic, survey):
    q = qs(survey)
    edited = [
        {"id": q[2].pk, "kind": "multiple", "text": "哪些方面满意？", "choices": ["医生", "停车"]},
        {"id": q[0].pk, "kind": "single", "text": "您是第几次来？", "choices": ["复诊", "第一次"]},
        {"id": q[1].pk, "kind": "score", "text": "解释清楚吗？", "counts": True},
    ]
    survey_save(clinic=clinic, survey=survey, title="门诊体验", scale=5, questions=edited)
    q2 = qs(survey)
    assert [x.pk for x in q2] == [q[2].pk, q[0].pk, q[1].pk]
    assert q2[0].choices == [{"id": "c3", "label": "医生"}, {"id": "c4", "label": "停车"}]
    assert q2[1].choices == [{"id": "c2", "label": "复诊"}, {"id": "c1", "label": "第一次"}]
    assert q2[1].text == "您是第几次来？"
    assert SurveyQuestion.objects.filter(survey=survey).count() == 3


@pytest.mark.parametrize(
    "questions, message",
    [
        ([], "请至少添加一道题"),
        (
            [{"kind": "single", "text": "选？", "choices": ["只有一个"]}],
            "第 1 题：选择题至少需要两个选项",
        ),
        ([{"kind": "score", "text": ""}], "第 1 题：请填写题目"),
        ([{"kind": "bogus", "text": "x"}], "第 1 题：请选择题型"),
        ([{"kind": "text", "text": "x", "counts": True}], "只有评分题可以计入得分"),
        ([{"kind": "multiple", "text": "x", "choices": ["a", "a"]}], "有两个选项文字相同"),
        ([{"kind": "text", "text": "a\x00b"}], "不允许的字符"),
        ([{"kind": "text", "text": "x", "id": 999999}], "该题不属于本调查"),
        ("not a list of dicts", "题目的格式无法识别"),
    ],
)
def test_editor_rules_are_said_in_chinese(clinic, questions, message):
    with pytest.raises(ValidationError) as error:
        survey_save(clinic=clinic, title="t", scale=5, questions=questions)
    assert message in str(error.value)


def test_question_with_answers_keeps_its_kind_and_cannot_be_removed(clinic, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    survey_answer(invitation=invitation, answers=_ids(answer_data(survey)))
    q = qs(survey)
    keep = [
        {
            "id": x.pk,
            "kind": x.kind,
            "text": x.text,
            "choices": [c["label"] for c in x.choices],
            "counts": x.counts,
        }
        for x in q
    ]
    with pytest.raises(ValidationError, match="已有答案，不能删除"):
        survey_save(clinic=clinic, survey=survey, title="t", scale=5, questions=keep[1:])
    keep[5]["kind"] = "score"
    with pytest.raises(ValidationError, match="不能更改题型"):
        survey_save(clinic=clinic, survey=survey, title="t", scale=5, questions=keep)
    with pytest.raises(ProtectedError):
        q[0].delete()


def _ids(data: dict) -> dict:
    """POST data {"q<pk>": value} as survey_answer takes it: {pk: [values]}."""
    return {int(k[1:]): v if isinstance(v, list) else [v] for k, v in data.items()}


def test_score_rule_is_the_mean_of_the_counted_score_questions(clinic, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    data = answer_data(survey, score1="5", score2="4")
    data[f"q{qs(survey)[4].pk}"] = "1"  # answered, but does not count
    invitation, first = survey_answer(invitation=invitation, answers=_ids(data))
    assert first and invitation.score == Decimal("4.5")
    answers = {a.question.position: a for a in invitation.answers.select_related("question")}
    assert answers[1].choice_ids == ["c2"] and answers[3].choice_ids == ["c1", "c3"]
    assert (answers[2].score, answers[4].score, answers[5].score) == (5, 4, 1)
    assert answers[6].text == "很好"
    touch = patient.touches.get(kind=TouchKind.SURVEY, payload__event="answered")
    assert touch.payload["score"] == 4.5 and touch.payload["scale"] == 5
    assert "4.5/5" in touch.summary and "很好" in touch.summary
    today = clock.local_today()  # the clinic's day: the figure counts by it
    figure = satisfaction(clinic=clinic, start=today, end=today)
    assert figure["answered"] == 1 and figure["mean_score"] == 4.5


def test_an_optional_counted_question_left_out_is_not_in_the_mean(clinic, patient):
    survey = survey_save(
        clinic=clinic,
        title="t",
        scale=10,
        questions=[
            {"kind": "score", "text": "a", "counts": True},
            {"kind": "score", "text": "b", "counts": True, "required": False},
        ],
    )
    invitation = survey_invite(survey=survey, patient=patient)
    first = qs(survey)[0]
    invitation, _ = survey_answer(invitation=invitation, answers={first.pk: ["3"]})
    assert invitation.score == 3
    # 3 of 10 is at or below the clinic's threshold (6): the service-recovery task follows.
    assert triggers_scan()["recovery_tasks"] == 1
    assert "3/10" in FollowUpTask.objects.get(patient=patient).title


def test_low_mean_makes_the_recovery_task_with_the_texts(clinic, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    data = answer_data(survey, score1="2", score2="1", text="等了两个小时")
    survey_answer(invitation=invitation, answers=_ids(data))
    assert triggers_scan()["recovery_tasks"] == 1
    task = FollowUpTask.objects.get(patient=patient)
    assert task.title == "服务补救：满意度评分 1.5/5，请回电患者"
    assert task.notes == "等了两个小时"


def test_a_survey_without_counted_questions_has_no_score(clinic, patient):
    survey = survey_save(
        clinic=clinic,
        title="意见",
        scale=5,
        questions=[{"kind": "text", "text": "您的意见？"}],
    )
    invitation = survey_invite(survey=survey, patient=patient)
    invitation, _ = survey_answer(invitation=invitation, answers={qs(survey)[0].pk: ["挺好"]})
    assert invitation.score is None and invitation.answered_at
    touch = patient.touches.get(kind=TouchKind.SURVEY, payload__event="answered")
    assert "score" not in touch.payload
    today = clock.local_today()  # the clinic's day: the figure counts by it
    figure = satisfaction(clinic=clinic, start=today, end=today)
    assert figure["answered"] == 1 and figure["mean_score"] is None


# The public answer page -------------------------------------------------------------------


def test_page_shows_every_question_and_the_answer_lands_on_the_timeline(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    page = client.get(path(invitation)).content.decode()
    for question in QUESTIONS:
        assert question["text"] in page
    assert 'type="checkbox"' in page and 'type="radio"' in page and "<textarea" in page
    response = client.post(path(invitation), answer_data(survey))
    assert response.status_code == 200 and "感谢" in response.content.decode()
    assert SurveyAnswer.objects.filter(invitation=invitation).count() == 5
    assert patient.touches.filter(kind=TouchKind.SURVEY, payload__event="answered").count() == 1


def test_required_questions_are_asked_for_in_chinese(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    response = client.post(path(invitation), {})
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count('data-testid="error-') == 4  # the four required questions
    for message in (
        "请选择一个答案",
        "请至少选择一个答案",
        "请选择一个分数",
        "请检查下面标出的答案",
    ):
        assert message in page
    assert SurveyInvitation.objects.get(pk=invitation.pk).answered_at is None


@pytest.mark.parametrize(
    "change, message",
    [
        ({"single": "c9"}, "请在给出的选项中选择"),
        ({"multiple": ("c1", "nope")}, "请在给出的选项中选择"),
        ({"single": ["c1", "c2"]}, "只能选择一个答案"),
        ({"score1": "6"}, "请选择 1 到 5 之间的分数"),
        ({"score1": "-1"}, "请选择 1 到 5 之间的分数"),
        ({"score1": "4.5"}, "请选择 1 到 5 之间的分数"),
        ({"score1": "9" * 40}, "请选择 1 到 5 之间的分数"),
        # NUL anywhere in a request: the house's 400, in Chinese (crm's input guard).
        ({"score1": "\x00"}, "不允许的字符"),
        ({"text": "x" * 2001}, "2000"),
    ],
)
def test_bad_input_is_a_clear_error_never_a_500(client, survey, patient, change, message):
    invitation = survey_invite(survey=survey, patient=patient)
    data = answer_data(survey)
    q = qs(survey)
    keys = {"single": q[0], "score1": q[1], "multiple": q[2], "text": q[5]}
    for name, value in change.items():
        data[f"q{keys[name].pk}"] = list(value) if isinstance(value, tuple) else value
    response = client.post(path(invitation), data)
    assert response.status_code == 400, response.content.decode()[:500]
    assert message in response.content.decode()
    assert SurveyInvitation.objects.get(pk=invitation.pk).answered_at is None


def test_nul_in_a_text_answer_is_a_400_not_a_500(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    response = client.post(path(invitation), answer_data(survey, text="好\x00的"))
    assert response.status_code == 400 and "不允许的字符" in response.content.decode()
    assert not SurveyAnswer.objects.exists()
    # Past the request guard (the API, a service caller), the service drops NUL.
    invitation, _ = survey_answer(
        invitation=invitation, answers=_ids(answer_data(survey, text="好\x00的"))
    )
    assert SurveyAnswer.objects.get(invitation=invitation, question__kind="text").text == "好的"


def test_unknown_question_keys_are_ignored(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    data = answer_data(survey) | {"q0": "x", "qabc": "y", "score": "1", "q99999999999": "1"}
    assert client.post(path(invitation), data).status_code == 200


# What a survey asks about ----------------------------------------------------------------


def test_invitation_carries_the_visit_on_the_timeline_and_results(
    client, admin_user, survey, patient, doctor
):
    visit = visit_record(
        patient=patient, visit_date=date(2026, 3, 1), kind="revisit", doctor=doctor
    )
    invitation = survey_invite(survey=survey, patient=patient, visit=visit)
    assert SurveyInvitation.objects.get(pk=invitation.pk).visit == visit
    sent = patient.touches.get(kind=TouchKind.SURVEY, payload__event="sent")
    assert sent.payload["visit_id"] == visit.pk and "2026-03-01 的就诊" in sent.summary
    client.post(path(invitation), answer_data(survey))
    answered = patient.touches.get(kind=TouchKind.SURVEY, payload__event="answered")
    assert answered.payload["visit_id"] == visit.pk and "2026-03-01 的就诊" in answered.summary
    client.force_login(admin_user)
    page = client.get(f"/content/surveys/{survey.pk}/").content.decode()
    assert "2026-03-01 的就诊" in page


def test_another_patients_visit_or_both_is_refused(survey, patient, make_patient, doctor):
    other = make_patient(name="吴九")
    visit = visit_record(patient=other, visit_date=date(2026, 3, 1), kind="revisit")
    with pytest.raises(ValidationError, match="不属于此患者"):
        survey_invite(survey=survey, patient=patient, visit=visit)
    assert not SurveyInvitation.objects.exists()


# Staff pages -----------------------------------------------------------------------------


def editor_post(rows, op="save", title="门诊体验", scale="5", active=True):
    data = {"title": title, "scale": scale, "q-count": str(len(rows)), "op": op}
    if active:
        data["is_active"] = "on"
    for i, row in enumerate(rows):
        data[f"q-{i}-id"] = str(row.get("id") or "")
        data[f"q-{i}-kind"] = row["kind"]
        data[f"q-{i}-text"] = row.get("text", "")
        data[f"q-{i}-choices"] = "\n".join(row.get("choices", []))
        if row.get("required", True):
            data[f"q-{i}-required"] = "on"
        if row.get("counts"):
            data[f"q-{i}-counts"] = "on"
    return data


def test_editor_adds_moves_removes_then_saves(client, admin_user, clinic):
    client.force_login(admin_user)
    assert client.get("/content/surveys/new/").status_code == 200
    rows = [{"kind": "score", "text": "满意吗？", "counts": True}]
    page = client.post("/content/surveys/new/", editor_post(rows, op="add:single"))
    assert (
        page.status_code == 200
        and page.content.decode().count('data-testid="editor-question"') == 2
    )
    rows.append({"kind": "single", "text": "第几次？", "choices": ["第一次", "复诊"]})
    page = client.post("/content/surveys/new/", editor_post(rows, op="up:1")).content.decode()
    assert page.index("第几次？") < page.index("满意吗？")
    page = client.post("/content/surveys/new/", editor_post(rows, op="remove:0")).content.decode()
    assert "满意吗？" not in page and "第几次？" in page
    assert not clinic.surveys.exists()  # nothing saved until 保存
    response = client.post("/content/surveys/new/", editor_post(rows[::-1]))
    survey = clinic.surveys.get()
    assert response.status_code == 302 and response.url == f"/content/surveys/{survey.pk}/"
    assert [q.text for q in qs(survey)] == ["第几次？", "满意吗？"]


def test_editor_errors_are_in_chinese_and_keep_what_was_typed(client, admin_user, clinic):
    client.force_login(admin_user)
    rows = [{"kind": "single", "text": "只有一个选项", "choices": ["是"]}]
    response = client.post("/content/surveys/new/", editor_post(rows, title=""))
    assert response.status_code == 400
    page = response.content.decode()
    assert "第 1 题：选择题至少需要两个选项" in page and "只有一个选项" in page
    assert "这个字段是必填项" in page or "必填" in page
    assert "<script>" not in page and "style=" not in page
    assert not clinic.surveys.exists()


def test_editor_on_an_existing_survey_and_roles(client, staff, outsider, survey):
    client.force_login(staff["admin"])
    page = client.get(f"/content/surveys/{survey.pk}/edit/").content.decode()
    assert "医生的解释清楚吗？" in page and "计入得分" in page
    client.force_login(staff["nurse"])
    assert client.get(f"/content/surveys/{survey.pk}/edit/").status_code == 403
    client.force_login(outsider)
    for url in (f"/content/surveys/{survey.pk}/", f"/content/surveys/{survey.pk}/edit/"):
        assert client.get(url).status_code == 404, url


def test_results_page_per_question(client, admin_user, survey, make_patient):
    for n, (single, score1, multiple, text) in enumerate(
        [("c1", "5", ("c1",), "环境好"), ("c2", "3", ("c1", "c3"), ""), ("c2", "4", (), "")]
    ):
        invitation = survey_invite(survey=survey, patient=make_patient(name=f"患者{n}"))
        data = answer_data(survey, single=single, score1=score1, multiple=multiple, text=text)
        if not multiple:
            data[f"q{qs(survey)[2].pk}"] = ["c2"]
        survey_answer(invitation=invitation, answers=_ids(data))
    client.force_login(admin_user)
    response = client.get(f"/content/surveys/{survey.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "4.00 / 5" in page  # first score question: (5 + 3 + 4) / 3
    assert "环境好" in page and "调查平均得分" in page
    from content.selectors import survey_results

    results = survey_results(survey=survey)
    single_row = results["questions"][0]
    assert [(c["label"], c["count"]) for c in single_row["choices"]] == [("第一次", 1), ("复诊", 2)]
    multiple_row = results["questions"][2]
    assert [c["count"] for c in multiple_row["choices"]] == [2, 1, 1]
    assert results["questions"][1]["mean"] == 4


# API ---------------------------------------------------------------------------------------


def test_api_creates_and_edits_a_survey_with_nested_questions(api, staff, outsider, clinic):
    client = api(staff["assistant"])
    created = client.post(
        "/api/surveys/",
        {"title": "门诊体验", "scale": 10, "questions": QUESTIONS[:3]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert [q["kind"] for q in body["questions"]] == ["single", "score", "multiple"]
    assert body["questions"][0]["choices"] == [
        {"id": "c1", "label": "第一次"},
        {"id": "c2", "label": "复诊"},
    ]
    assert "平均分" in body["score_rule"] or "mean" in body["score_rule"]
    pk = body["id"]
    q = body["questions"]
    patch = client.patch(
        f"/api/surveys/{pk}/",
        {"questions": [q[1], {**q[0], "choices": [{"label": "复诊"}, {"label": "转诊"}]}]},
        format="json",
    )
    assert patch.status_code == 200, patch.json()
    assert [x["id"] for x in patch.json()["questions"]] == [q[1]["id"], q[0]["id"]]
    assert patch.json()["questions"][1]["choices"] == [
        {"id": "c2", "label": "复诊"},
        {"id": "c3", "label": "转诊"},
    ]
    renamed = client.patch(f"/api/surveys/{pk}/", {"title": "新名字"}, format="json")
    assert renamed.status_code == 200 and len(renamed.json()["questions"]) == 2
    bad = client.post(
        "/api/surveys/",
        {"title": "x", "questions": [{"kind": "single", "text": "x", "choices": ["a"]}]},
        format="json",
    )
    assert bad.status_code == 400 and "第 1 题" in str(bad.json()["errors"])
    assert api(outsider).get(f"/api/surveys/{pk}/").status_code == 404


def test_api_invite_with_a_visit(api, staff, survey, patient, make_patient):
    visit = visit_record(patient=patient, visit_date=date(2026, 3, 1), kind="revisit")
    client = api(staff["assistant"])
    response = client.post(
        f"/api/surveys/{survey.pk}/invite/", {"patient": patient.pk, "visit": visit.pk}
    )
    assert response.status_code == 201 and response.json()["visit"] == visit.pk
    other = make_patient(name="吴九")
    refused = client.post(
        f"/api/surveys/{survey.pk}/invite/", {"patient": other.pk, "visit": visit.pk}
    )
    assert refused.status_code == 400 and "不属于此患者" in str(refused.json())
    listed = client.get(f"/api/surveys/{survey.pk}/invitations/").json()["results"]
    assert listed[0]["answers"] == [] and listed[0]["score"] is None


def test_question_kinds_are_the_four():
    assert set(QuestionKind.values) == {"single", "multiple", "score", "text"}
