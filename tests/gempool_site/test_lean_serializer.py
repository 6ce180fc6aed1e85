"""LeanSerializer: what it assumes about DRF (pinned so an upgrade fails here by name), and that it validates
exactly as a plain Serializer does without the declared fields ever being touched."""
from __future__ import annotations

import inspect

import pytest
from rest_framework import serializers

from gempool_site.lean_serializer import LeanSerializer


class Options(LeanSerializer):
    flag = serializers.BooleanField(required=False, default=False)


class Lean(LeanSerializer):
    name = serializers.CharField(max_length=5, trim_whitespace=True)
    count = serializers.IntegerField(min_value=1, required=False)
    options = Options(required=False, allow_null=True)


class PlainOptions(serializers.Serializer):
    flag = serializers.BooleanField(required=False, default=False)


class Plain(serializers.Serializer):
    name = serializers.CharField(max_length=5, trim_whitespace=True)
    count = serializers.IntegerField(min_value=1, required=False)
    options = PlainOptions(required=False, allow_null=True)


def test_drf_still_collects_declared_fields_on_the_class_and_deep_copies_them_per_instance():
    assert list(Lean._declared_fields) == ["name", "count", "options"]
    assert Lean._declared_fields["name"] is vars(Lean).get("_declared_fields", {}).get("name")
    assert "copy.deepcopy(self._declared_fields)" in inspect.getsource(serializers.Serializer.get_fields)


def test_fields_have_an_instance_dict_for_the_shallow_copy():
    field = serializers.CharField(max_length=3)
    assert hasattr(field, "__dict__") and "__slots__" not in vars(serializers.Field)


@pytest.mark.parametrize("data", [
    {"name": " ab "}, {"name": "toolong"}, {"name": 5, "count": "2"}, {"count": 0}, {},
    {"name": "ok", "count": 3, "options": None}, {"name": "ok", "options": {"flag": "yes"}},
    {"name": "ok", "options": {"flag": "maybe"}},
])
def test_a_lean_serializer_validates_like_a_plain_serializer(data):
    lean, plain = Lean(data=data), Plain(data=data)
    assert lean.is_valid() == plain.is_valid()
    assert lean.errors == plain.errors
    assert lean.validated_data == plain.validated_data


def test_binding_and_validating_never_touch_the_declared_fields():
    declared = Lean._declared_fields
    before = {name: dict(vars(field)) for name, field in declared.items()}
    validators_before = {name: list(field.validators) for name, field in declared.items()}
    for data in ({"name": "a", "options": {"flag": True}}, {"name": "toolong"}, {"count": -1}):
        serializer = Lean(data=data)
        serializer.is_valid()
        assert all(serializer.fields[name] is not declared[name] for name in declared)
        assert serializer.fields["name"].parent is serializer
    for name, field in declared.items():
        assert field.field_name is None and field.parent is None, name  # never bound
        assert {k: v for k, v in vars(field).items() if k != "_validators"} == \
               {k: v for k, v in before[name].items() if k != "_validators"}, name
        assert list(field.validators) == validators_before[name], name
