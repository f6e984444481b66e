"""How every form field of the project's pages is drawn: one template (templates/forms/field.html,
`{{ field.as_field_group }}`) and one bound field that gives each widget Bootstrap's class.

settings.FORM_RENDERER names `FormRenderer`. A form that wants another look sets the class on
its widget (`attrs={"class": "form-select form-select-sm"}`): a class the widget has is kept."""

from django import forms
from django.forms.renderers import TemplatesSetting


def bootstrap_class(widget) -> str:
    """Bootstrap's class for a widget's <input>, <select> or <textarea>."""
    if isinstance(widget, forms.HiddenInput):
        return ""
    if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
        return "form-check-input"
    if isinstance(widget, forms.Select | forms.SelectMultiple):
        return "form-select"
    return "form-control"


class BootstrapBoundField(forms.BoundField):
    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        css = attrs.get("class") or widget.attrs.get("class") or bootstrap_class(widget)
        if self.errors and css and "is-invalid" not in css:
            css = f"{css} is-invalid"
        if css:
            attrs["class"] = css
        return attrs

    @property
    def choice_group(self) -> bool:
        """Several checkboxes or radio buttons: drawn as a group under a legend."""
        return isinstance(self.field.widget, forms.CheckboxSelectMultiple | forms.RadioSelect)

    @property
    def limit(self):
        """A textarea's character limit (data-limit): the template shows a counter."""
        return self.field.widget.attrs.get("data-limit")


class FormRenderer(TemplatesSetting):
    field_template_name = "forms/field.html"
    bound_field_class = BootstrapBoundField
