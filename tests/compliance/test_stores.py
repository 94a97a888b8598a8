"""The personal-data store registry: every store of subject data is registered."""

from django.apps import apps

from compliance.stores import NOT_STORES, store_list, stores_cover


def _names_a_subject(model) -> bool:
    names = {field.name for field in model._meta.concrete_fields}
    return "subject" in names or model._meta.label == "compliance.Subject"


def test_every_model_that_names_a_subject_belongs_to_a_store():
    unregistered = [
        model._meta.label
        for model in apps.get_models()
        if _names_a_subject(model)
        and not stores_cover(model)
        and model._meta.label not in NOT_STORES
    ]
    assert unregistered == []


def test_keys_go_first_and_the_subject_mapping_last():
    names = [store.name for store in store_list()]
    assert names[0] == "keys" and names[-1] == "subject_mapping"
    assert {"jobs", "cache", "archive", "request_logs"} <= set(names)


def test_every_store_with_a_retention_class_has_its_expiry_field():
    for store in store_list():
        if store.data_class:
            model = store.models[0]
            assert model._meta.get_field(store.expiry_field).get_internal_type() == "DateTimeField"
            assert model._meta.get_field("tenant")
