"""Each survey's single question becomes its first question (a score question on the survey's
scale, counted in the score) and the comment its second (optional free text); each answered
invitation's score and comment become the answers to them. Reversible: back, the first score
question and the first text answer fill the old columns again."""

from django.db import migrations

COMMENT_QUESTION = "还有什么想告诉我们的吗？（选填）"


def forwards(apps, schema_editor):
    Survey = apps.get_model("content", "Survey")
    SurveyQuestion = apps.get_model("content", "SurveyQuestion")
    SurveyInvitation = apps.get_model("content", "SurveyInvitation")
    SurveyAnswer = apps.get_model("content", "SurveyAnswer")
    for survey in Survey.objects.all().iterator():
        score_q = SurveyQuestion.objects.create(
            clinic_id=survey.clinic_id,
            survey=survey,
            position=1,
            kind="score",
            text=survey.question,
            required=True,
            counts=True,
        )
        text_q = SurveyQuestion.objects.create(
            clinic_id=survey.clinic_id,
            survey=survey,
            position=2,
            kind="text",
            text=COMMENT_QUESTION,
            required=False,
        )
        answers = []
        answered = SurveyInvitation.objects.filter(survey=survey, answered_at__isnull=False)
        for invitation in answered.iterator():
            if invitation.score is not None:
                answers.append(
                    SurveyAnswer(
                        clinic_id=invitation.clinic_id,
                        invitation=invitation,
                        question=score_q,
                        score=int(invitation.score),
                    )
                )
            if invitation.comment:
                answers.append(
                    SurveyAnswer(
                        clinic_id=invitation.clinic_id,
                        invitation=invitation,
                        question=text_q,
                        text=invitation.comment,
                    )
                )
        SurveyAnswer.objects.bulk_create(answers, batch_size=1000)


def backwards(apps, schema_editor):
    Survey = apps.get_model("content", "Survey")
    SurveyAnswer = apps.get_model("content", "SurveyAnswer")
    for survey in Survey.objects.all().iterator():
        first = survey.questions.order_by("position").first()
        survey.question = first.text if first else survey.title
        survey.save(update_fields=["question"])
    for answer in SurveyAnswer.objects.filter(question__kind="text").exclude(text=""):
        invitation = answer.invitation
        if not invitation.comment:
            invitation.comment = answer.text
            invitation.save(update_fields=["comment"])
    SurveyAnswer.objects.all().delete()
    apps.get_model("content", "SurveyQuestion").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("content", "0007_survey_questions")]

    operations = [migrations.RunPython(forwards, backwards)]
