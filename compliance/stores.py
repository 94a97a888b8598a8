"""The registry of personal-data stores: every place that holds data about a subject.

Each app registers its stores at start (AppConfig.ready), so erasure, export and retention
reach every store without knowing any by name; compliance never imports the apps that
register. A test fails when a model with a `subject` field belongs to no store.

A store names its models (the first holds the rows, with a `tenant` foreign key and its
`expiry_field`), its data class (for retention) and the three operations on one subject. `erase` returns how many rows it
removed or unlinked; afterwards `count` must be zero.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class PersonalDataStore:
    name: str
    data_class: str  # a compliance.models.DataClass value
    models: tuple[type[models.Model], ...]  # every model whose rows belong to this store
    count: Callable[[str], int]
    export: Callable[[str], list[dict]]
    erase: Callable[[str], int]
    expiry_field: str = "created_at"  # retention deletes rows older than their class allows
    order: int = 50  # erasure runs stores in this order (keys first, mapping last)
    description: str = ""  # what the store keeps, for receipts and the console


_stores: dict[str, PersonalDataStore] = {}


def store_register(store: PersonalDataStore) -> None:
    """Register (or, on a second ready(), replace) a store."""
    _stores[store.name] = store


def store_list() -> list[PersonalDataStore]:
    """Every registered store, in erasure order."""
    return sorted(_stores.values(), key=lambda store: (store.order, store.name))


def store_get(name: str) -> PersonalDataStore:
    return _stores[name]


def stores_cover(model: type[models.Model]) -> bool:
    return any(model in store.models for store in _stores.values())
