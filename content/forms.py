from django import forms
from django.utils.translation import gettext_lazy as _


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(label=_("Body (Markdown)"), widget=forms.Textarea(attrs={"rows": 14}))
    disease_tags = forms.ModelMultipleChoiceField(
        label=_("Disease tags"), queryset=None, required=False
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["disease_tags"].queryset = clinic.tags.select_related("group")


class MessageTemplateForm(forms.Form):
    name = forms.CharField(label=_("Template name"), max_length=80)
    body = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Variables: {姓名} {医生} {复诊日期} {诊所}"),
    )


class SegmentForm(forms.Form):
    """A segment, in PatientFilter's terms (campaigns and survey invitations)."""

    stage = forms.MultipleChoiceField(label=_("Journey stage"), required=False)
    tag = forms.MultipleChoiceField(label=_("Any of these tags"), required=False)
    assigned_doctor = forms.ChoiceField(label=_("Doctor"), required=False)
    last_visit_after = forms.DateField(
        label=_("Last visit from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    last_visit_before = forms.DateField(
        label=_("Last visit until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    SEGMENT_FIELDS = ("stage", "tag", "assigned_doctor", "last_visit_after", "last_visit_before")

    def __init__(self, *args, clinic, **kwargs):
        from crm.models import Role
        from patients.choices import Stage

        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = Stage.choices
        self.fields["tag"].choices = [
            (str(t.pk), f"{t.group.name} · {t.name}") for t in clinic.tags.select_related("group")
        ]
        doctors = clinic.memberships.filter(role=Role.DOCTOR).select_related("user")
        self.fields["assigned_doctor"].choices = [("", "—")] + [
            (str(m.user_id), m.name) for m in doctors
        ]

    def segment(self) -> dict:
        data = self.cleaned_data
        segment = {}
        for field in self.SEGMENT_FIELDS:
            value = data.get(field)
            if value in (None, "", []):
                continue
            segment[field] = value.isoformat() if hasattr(value, "isoformat") else value
        return segment


class CampaignForm(SegmentForm):
    """A campaign and its segment, in PatientFilter's terms."""

    name = forms.CharField(label=_("Campaign name"), max_length=100)
    body = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Variables: {诊所}; with an article, {链接} (its link is added at the end when the text has none)"
        ),
    )
    article = forms.ChoiceField(
        label=_("Article (optional)"),
        required=False,
        help_text=_(
            "The tracked link is one per staff member's WeCom task: its reads are counted for "
            "the campaign, not per patient."
        ),
    )
    field_order = ["name", "body", "article", *SegmentForm.SEGMENT_FIELDS]

    def __init__(self, *args, clinic, **kwargs):
        from content.models import ArticleStatus

        super().__init__(*args, clinic=clinic, **kwargs)
        self.fields["article"].choices = [("", "—")] + [
            (str(a.pk), a.title)
            for a in clinic.articles.filter(status=ArticleStatus.PUBLISHED).order_by("title")
        ]

    @classmethod
    def initial_from(cls, campaign) -> dict:
        segment = dict(campaign.segment)
        if "tag" in segment:
            segment["tag"] = segment["tag"].split(",")
        return {"name": campaign.name, "body": campaign.body, **segment}


class SurveyInviteForm(SegmentForm):
    """Invite patients to a survey: picked by hand, or a segment's, or both."""

    survey = forms.TypedChoiceField(label=_("Survey"), coerce=int)
    patients = forms.TypedMultipleChoiceField(
        label=_("Patients"),
        coerce=int,
        required=False,
        # Filled by searching the server as one types (content/surveys_page.js): a clinic has
        # too many patients for one list.
        widget=forms.SelectMultiple(attrs={"size": 8, "data-search-patients": ""}),
        help_text=_(
            "Type a name, pinyin initials or phone to find patients; hold Ctrl (⌘ on a Mac) to "
            "pick several. Or choose a segment below."
        ),
    )
    field_order = ["survey", "patients", *SegmentForm.SEGMENT_FIELDS]

    def __init__(self, *args, clinic, patients, **kwargs):
        super().__init__(*args, clinic=clinic, **kwargs)
        self.fields["survey"].choices = [
            (s.pk, s.title) for s in clinic.surveys.filter(is_active=True)
        ]
        # The choices are the picked patients the user sees: any other id is refused.
        picked = self.data.getlist(self.add_prefix("patients")) if self.is_bound else []
        ids = [int(value) for value in picked if str(value).isdigit()]
        self.fields["patients"].choices = [
            (p.pk, p.name) for p in patients.filter(pk__in=ids).order_by("name", "pk")
        ]

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("patients") and not self.segment():
            raise forms.ValidationError(_("Pick patients or choose a segment."))
        return data


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty: send now."),
    )


class SurveyForm(forms.Form):
    """The survey's own fields; its questions are the editor's rows (SurveyEditor)."""

    title = forms.CharField(label=_("Title"), max_length=100)
    scale = forms.TypedChoiceField(
        label=_("Scale of the score questions"),
        coerce=int,
        choices=[(5, _("1 to 5")), (10, _("0 to 10"))],
        initial=10,
    )
    is_active = forms.BooleanField(label=_("Active (may be sent)"), required=False, initial=True)


class SurveyEditor:
    """The question rows of the survey editor, as posted (q-count, q-<i>-id, -kind, -text,
    -choices, -required, -counts) or from a survey, and the buttons that add, move and remove
    rows without saving (op=add:<kind>, up:<i>, down:<i>, remove:<i>; op=save saves)."""

    LIMIT = 40

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @classmethod
    def from_survey(cls, survey) -> "SurveyEditor":
        return cls(
            [
                {
                    "id": q.pk,
                    "kind": q.kind,
                    "text": q.text,
                    "choices": "\n".join(c["label"] for c in q.choices),
                    "required": q.required,
                    "counts": q.counts,
                }
                for q in survey.questions.order_by("position")
            ]
        )

    @classmethod
    def new(cls) -> "SurveyEditor":
        return cls([cls.blank("score")])

    @staticmethod
    def blank(kind: str) -> dict:
        return {
            "id": None,
            "kind": kind,
            "text": "",
            "choices": "",
            "required": True,
            "counts": kind == "score",
        }

    @classmethod
    def from_post(cls, data) -> "SurveyEditor":
        try:
            count = min(max(int(data.get("q-count", 0)), 0), cls.LIMIT)
        except (TypeError, ValueError):
            count = 0
        rows = []
        for i in range(count):
            raw_id = data.get(f"q-{i}-id", "")
            rows.append(
                {
                    "id": int(raw_id) if raw_id.isdigit() and len(raw_id) < 12 else None,
                    "kind": data.get(f"q-{i}-kind", "")[:20],
                    "text": data.get(f"q-{i}-text", "")[:500],
                    "choices": data.get(f"q-{i}-choices", "")[:5000],
                    "required": bool(data.get(f"q-{i}-required")),
                    "counts": bool(data.get(f"q-{i}-counts")),
                }
            )
        return cls(rows)

    def apply(self, op: str) -> bool:
        """Add, move or remove a row; True when `op` was one of those (nothing is saved)."""
        name, _sep, arg = (op or "").partition(":")
        if name == "add" and arg in {"single", "multiple", "score", "text"}:
            if len(self.rows) < self.LIMIT:
                self.rows.append(self.blank(arg))
            return True
        if name not in {"up", "down", "remove"} or not arg.isdigit():
            return False
        i = int(arg)
        if not 0 <= i < len(self.rows):
            return True
        if name == "remove":
            del self.rows[i]
        elif name == "up" and i > 0:
            self.rows[i - 1], self.rows[i] = self.rows[i], self.rows[i - 1]
        elif name == "down" and i < len(self.rows) - 1:
            self.rows[i + 1], self.rows[i] = self.rows[i], self.rows[i + 1]
        return True

    def questions(self) -> list[dict]:
        """The rows as survey_save takes them."""
        return [
            {**row, "choices": row["choices"].splitlines()} if row["choices"] else row
            for row in self.rows
        ]


class RedLinePhraseForm(forms.Form):
    phrase = forms.CharField(label=_("Phrase"), max_length=50)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class ContentSettingsForm(forms.Form):
    emergency_notice_enabled = forms.BooleanField(
        label=_("Append the emergency notice to patient messages"), required=False
    )
    emergency_notice = forms.CharField(label=_("Emergency notice"), max_length=200)
    per_customer_daily_cap = forms.IntegerField(
        label=_("Mass messages per patient per day (0: no cap)"), min_value=0, max_value=100
    )
    per_customer_weekly_cap = forms.IntegerField(
        label=_("Mass messages per patient in 7 days (0: no cap)"), min_value=0, max_value=100
    )
    campaigns_per_day_cap = forms.IntegerField(
        label=_("Campaigns per day for the clinic (0: no cap)"), min_value=0, max_value=100
    )
