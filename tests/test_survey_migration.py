"""The data migration: each existing survey's single question becomes its first question (a
counted score question) and the comment its second; existing answers are kept."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("content", "0006_tracked_article_links")]
AFTER = [("content", "0009_survey_question_and_comment_moved")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_single_question_surveys_become_questions_and_keep_answers(clinic, make_patient):
    patient = make_patient(name="老患者")
    try:
        old = migrate(BEFORE)
        Survey = old.get_model("content", "Survey")
        Invitation = old.get_model("content", "SurveyInvitation")
        survey = Survey.objects.create(
            clinic_id=clinic.pk, title="就诊满意度", question="您满意吗？", scale=5
        )
        now = timezone.now()
        common = {"clinic_id": clinic.pk, "survey": survey, "patient_id": patient.pk}
        answered = Invitation.objects.create(
            **common,
            token_hash="a" * 64,
            expires_at=now,
            answered_at=now,
            score=4,
            comment="医生很耐心",
        )
        silent = Invitation.objects.create(
            **common, token_hash="b" * 64, expires_at=now, answered_at=now, score=2
        )
        Invitation.objects.create(**common, token_hash="c" * 64, expires_at=now)

        new = migrate(AFTER)
        Question = new.get_model("content", "SurveyQuestion")
        Answer = new.get_model("content", "SurveyAnswer")
        questions = list(Question.objects.filter(survey_id=survey.pk).order_by("position"))
        assert [(q.position, q.kind, q.text, q.counts, q.required) for q in questions] == [
            (1, "score", "您满意吗？", True, True),
            (2, "text", "还有什么想告诉我们的吗？（选填）", False, False),
        ]
        assert {q.clinic_id for q in questions} == {clinic.pk}
        rows = Answer.objects.order_by("invitation_id", "question__position")
        assert [(a.invitation_id, a.question.position, a.score, a.text) for a in rows] == [
            (answered.pk, 1, 4, ""),
            (answered.pk, 2, None, "医生很耐心"),
            (silent.pk, 1, 2, ""),
        ]
        Invitation = new.get_model("content", "SurveyInvitation")
        assert Invitation.objects.get(pk=answered.pk).score == 4
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("content"))
