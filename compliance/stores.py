"""The registry of personal-data stores: every place that holds data about a subject.

Each app registers its stores at start (AppConfig.ready), so erasure, export and retention
reach every store without knowing any by name; compliance never imports the apps that
register. A test fails when a model with a `subject` field belongs to no store.

A store names its models (the first holds the rows, with a `tenant` foreign key and its
`expiry_field`), its data class (for retention) and the three operations on one subject.
`erase` returns how many rows it removed or unlinked; afterwards `count` must be zero.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class PersonalDataStore:
    name: str
    models: tuple[type[models.Model], ...]  # every model whose rows belong to this store
    count: Callable[[str], int]
    export: Callable[[str], list[dict]]
    erase: Callable[[str], int]
    data_class: str = ""  # a compliance.models.DataClass value; "": kept until erased
    expiry_field: str = "created_at"  # retention deletes rows older than their class allows
    order: int = 50  # erasure runs stores in this order (keys first, mapping last)
    description: str = ""  # what the store keeps, for receipts and the console


_stores: dict[str, PersonalDataStore] = {}

# Models that name a subject but are deliberately no store of the subject's data.
NOT_STORES = {
    "compliance.ErasureRequest": (
        "the record that an erasure was asked for and done: the proof an auditor needs, kept "
        "under the receipts retention; it names the subject by pseudonym only"
    ),
}


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


def register_compliance_stores() -> None:
    """The stores compliance itself keeps. Keys go first (from then on, everything sealed
    under them is unreadable) and the subject mapping last (until then, a crashed erasure
    can still find what is left)."""
    from compliance.models import (
        ArchiveEntry,
        CacheEntry,
        CacheSubject,
        DataClass,
        DataKey,
        RequestLog,
        Subject,
    )
    from compliance.services import archive, cache, keys, request_log, subjects

    for store in (
        PersonalDataStore(
            name="keys",
            models=(DataKey,),
            count=keys.data_key_count,
            export=keys.data_key_export,
            erase=lambda subject: int(bool(keys.data_key_destroy(subject=subject))),
            order=10,
            description="the subject's data key, which seals all of the subject's content",
        ),
        PersonalDataStore(
            name="cache",
            data_class=DataClass.CACHE,
            models=(CacheEntry, CacheSubject),
            count=cache.cache_count,
            export=cache.cache_export,
            erase=cache.cache_erase,
            expiry_field="created_at",
            order=20,
            description="cached outputs the subject's requests produced or hit",
        ),
        PersonalDataStore(
            name="archive",
            data_class=DataClass.ARCHIVE,
            models=(ArchiveEntry,),
            count=archive.archive_count,
            export=archive.archive_export,
            erase=archive.archive_erase,
            order=30,
            description="archived exchanges (input and output), sealed",
        ),
        PersonalDataStore(
            name="request_logs",
            data_class=DataClass.REQUEST_LOGS,
            models=(RequestLog,),
            count=request_log.request_log_count,
            export=request_log.request_log_export,
            erase=request_log.request_log_unlink,
            order=60,
            description="metadata of each request; erasure unlinks rows from the subject",
        ),
        PersonalDataStore(
            name="subject_mapping",
            models=(Subject,),
            count=subjects.subject_mapping_count,
            export=subjects.subject_mapping_export,
            erase=subjects.subject_mapping_erase,
            order=90,
            description="the link from the subject's reference to its pseudonym",
        ),
    ):
        store_register(store)
