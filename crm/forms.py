"""Form helpers shared by every app's pages."""

from django.core.exceptions import ValidationError


def form_add_service_errors(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: each field's messages on that field, the
    rest (and a plain, field-less error) above the form."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)
