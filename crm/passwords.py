"""Password rules of 等保 2.0 that Django's validators lack, or lack in Chinese."""

import string

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CLASSES = (
    ("lowercase", str.islower),
    ("uppercase", str.isupper),
    ("digit", str.isdigit),
    ("symbol", lambda char: char in string.punctuation or char == " "),
)


class CharacterClassesValidator:
    """At least `min_classes` of: lowercase letters, uppercase letters, digits, symbols."""

    def __init__(self, min_classes=3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        found = {name for name, test in CLASSES for char in password if test(char)}
        if len(found) < self.min_classes:
            raise ValidationError(self.message(), code="password_too_few_classes")

    def message(self):
        return _(
            "The password must mix at least %(count)d of: lowercase letters, uppercase letters, "
            "digits and symbols."
        ) % {"count": self.min_classes}

    def get_help_text(self):
        return self.message()


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's, with a message our catalogue translates (Django's zh_Hans lacks this msgid)."""

    def get_error_message(self):
        return _("The password is too short: it must have at least %(count)d characters.") % {
            "count": self.min_length
        }

    def get_help_text(self):
        return _("At least %(count)d characters.") % {"count": self.min_length}
