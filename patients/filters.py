import django_filters
from django.utils.translation import gettext_lazy as _

from patients.models import Patient, Source, Stage, TaggedPatient


class PatientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label=_("Name, pinyin initials or phone"))
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices)
    tag = django_filters.BaseInFilter(method="filter_any_tag", label=_("Any of these tag ids"))
    tag_all = django_filters.BaseInFilter(method="filter_all_tags", label=_("All of these tag ids"))
    assigned_doctor = django_filters.NumberFilter()
    assigned_assistant = django_filters.NumberFilter()
    last_visit_after = django_filters.DateFilter(field_name="last_visit_date", lookup_expr="gte")
    last_visit_before = django_filters.DateFilter(field_name="last_visit_date", lookup_expr="lte")
    has_wecom = django_filters.BooleanFilter(method="filter_has_wecom")

    class Meta:
        model = Patient
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_any_tag(self, queryset, name, value):
        ids = [int(v) for v in value if str(v).isdigit()]
        if not ids:
            return queryset
        tagged = TaggedPatient.objects.filter(tag_id__in=ids).values("content_object_id")
        return queryset.filter(pk__in=tagged)

    def filter_all_tags(self, queryset, name, value):
        for tag_id in {int(v) for v in value if str(v).isdigit()}:
            queryset = queryset.filter(tagged_items__tag_id=tag_id)
        return queryset

    def filter_has_wecom(self, queryset, name, value):
        return (
            queryset.exclude(external_userid="") if value else queryset.filter(external_userid="")
        )
