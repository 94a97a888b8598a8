"""JSON fields that take only the JSON type they name.

DRF's defaults coerce ("10" becomes 10, "yes" becomes True, 5 becomes "5"); an API that
promises a clear error for wrong types must not guess.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class StringOrListField(serializers.Field):
    """A string, or a list of strings (OpenAI's `stop` and `input`); always a tuple inside."""

    default_error_messages = {
        "invalid": "Must be a string or a list of strings.",
        "max_items": "Give at most {max_items} items.",
    }

    def __init__(self, *, max_items: int, **kwargs):
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> tuple[str, ...]:
        items = [data] if isinstance(data, str) else data
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail("invalid")
        if len(items) > self.max_items:
            self.fail("max_items", max_items=self.max_items)
        return tuple(items)

    def to_representation(self, value):
        return list(value)
