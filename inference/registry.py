"""Which models exist, where their weights are, and which device and region serve them.

The catalogue is a TOML file (inference/models.toml, or the file PORTAL_MODELS names). It is
read once per process; a malformed catalogue stops the server at start, not at first use.
"""

import hashlib
import os
import threading
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from transformers import AutoConfig, AutoTokenizer

from portal.errors import ApiError

TASKS = (
    "text-generation",
    "embeddings",
    "image-classification",
    "image-generation",
    "transcription",
    "speech-detection",
)
MODALITY_OF_TASK = {
    "text-generation": "text",
    "embeddings": "text",
    "image-classification": "image",
    "image-generation": "image",
    "transcription": "audio",
    "speech-detection": "audio",
}
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    path: Path
    device: str = "auto"
    dtype: str = "auto"
    max_batch_size: int = 8
    max_wait_ms: float = 5.0
    pool: str = ""
    region: str = "local"
    kv_cache_budget_mb: float = 0  # 0: no limit beyond the batch size
    scrub: bool = False  # overwrite per-request buffers with zeros before releasing them
    tenants: tuple[str, ...] = ()  # when set, the pool serves these tenants only
    random_weights: bool = False  # an offline default: it runs for real, its output is noise

    @property
    def modality(self) -> str:
        return MODALITY_OF_TASK[self.task]


def _spec_from_table(table: dict, models_dir: Path) -> ModelSpec:
    unknown = set(table) - set(ModelSpec.__dataclass_fields__)
    if unknown:
        raise ImproperlyConfigured(f"model catalogue: unknown keys {sorted(unknown)}")
    if table.get("task") not in TASKS:
        raise ImproperlyConfigured(f"model catalogue: task must be one of {TASKS}")
    if table.get("dtype", "auto") not in DTYPES:
        raise ImproperlyConfigured(f"model catalogue: dtype must be one of {DTYPES}")
    path = Path(table["path"])
    return ModelSpec(
        **{
            **table,
            "path": path if path.is_absolute() else models_dir / path,
            "pool": table.get("pool") or table["name"],
            "tenants": tuple(table.get("tenants", ())),
        }
    )


@lru_cache(maxsize=4)
def catalogue_load(path: str) -> dict[str, ModelSpec]:
    try:
        tables = tomllib.loads(Path(path).read_text())["models"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ImproperlyConfigured(f"model catalogue {path} is unreadable: {exc}") from exc
    specs = [_spec_from_table(table, Path(settings.VAR_DIR) / "models") for table in tables]
    by_name = {spec.name: spec for spec in specs}
    if len(by_name) != len(specs):
        raise ImproperlyConfigured(f"model catalogue {path} names a model twice")
    _check_dedicated_devices(specs)
    return by_name


def _check_dedicated_devices(specs: list[ModelSpec]) -> None:
    """A pool dedicated to tenants shares its GPU with no other pool (named devices only:
    `auto` and the CPU cannot be reserved, and the catalogue says which devices it names)."""
    for spec in specs:
        if not spec.tenants or not spec.device.startswith(("cuda", "MIG-", "GPU-")):
            continue
        others = [o.name for o in specs if o is not spec and o.device == spec.device]
        if others:
            raise ImproperlyConfigured(
                f"model catalogue: {spec.name} is dedicated to {list(spec.tenants)} but "
                f"{spec.device} also serves {others}"
            )


def model_serves(spec: ModelSpec, tenant_slug: str | None) -> bool:
    """A pool dedicated to tenants serves no one else (and does not show itself to them)."""
    return not spec.tenants or tenant_slug in spec.tenants


def model_list(*, tenant_slug: str | None = None) -> list[ModelSpec]:
    return [
        spec
        for spec in catalogue_load(settings.PORTAL_MODELS).values()
        if tenant_slug is None or model_serves(spec, tenant_slug)
    ]


def model_get(name: str, *, task: str | None = None, tenant_slug: str | None = None) -> ModelSpec:
    """The named model, refused with model_not_found if absent, not serving this task, or
    dedicated to other tenants."""
    spec = catalogue_load(settings.PORTAL_MODELS).get(name)
    hidden = spec is not None and tenant_slug is not None and not model_serves(spec, tenant_slug)
    if spec is None or hidden or (task is not None and spec.task != task):
        suffix = f" for {task}" if task else ""
        raise ApiError("model_not_found", f"No model named '{name}'{suffix}.", param="model")
    return spec


def model_device(spec: ModelSpec) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU; INFERENCE_DEVICE overrides `auto`."""
    device = spec.device
    if device == "auto":
        device = settings.INFERENCE_DEVICE
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith(("MIG-", "GPU-")):
        device = f"cuda:{_visible_index(device)}"
    return torch.device(device)


def _visible_index(uuid: str) -> int:
    """The CUDA index of a GPU or MIG instance named by UUID among this process's devices.

    CUDA addresses devices by index only, and a process sees one MIG instance at most: a pool
    pinned to a MIG instance runs in a process started with CUDA_VISIBLE_DEVICES=<its uuid>.
    """
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    if uuid not in visible:
        raise ImproperlyConfigured(
            f"Device {uuid} is not visible to this process: start it with "
            f"CUDA_VISIBLE_DEVICES={uuid}."
        )
    return visible.index(uuid)


def model_dtype(spec: ModelSpec) -> torch.dtype:
    if spec.dtype == "auto":
        return torch.bfloat16 if model_device(spec).type == "cuda" else torch.float32
    return getattr(torch, spec.dtype)


def model_available(spec: ModelSpec) -> ModelSpec:
    """The spec, refused with service_unavailable when its weights are not on this server."""
    if not spec.path.exists():
        raise ApiError(
            "service_unavailable",
            f"Model '{spec.name}' has no weights on this server; run build_default_models.",
        )
    return spec


# NOTE: validation runs on several threads at once; loading (and transformers' lazy imports)
# must not race, so loads take this lock.
_loading = threading.Lock()


@lru_cache(maxsize=32)
def model_tokenizer(spec: ModelSpec):
    """The model's own fast tokenizer, loaded once; validation and preprocessing share it."""
    with _loading:
        return AutoTokenizer.from_pretrained(model_available(spec).path, local_files_only=True)


@lru_cache(maxsize=32)
def _model_config(spec: ModelSpec):
    with _loading:
        return AutoConfig.from_pretrained(model_available(spec).path, local_files_only=True)


def model_kv_cache_bytes_per_token(spec: ModelSpec) -> int:
    """Keys and values of every layer for one token, from the model's config."""
    config = _model_config(spec)
    text = config.get_text_config()
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    element_bytes = torch.finfo(model_dtype(spec)).bits // 8
    return 2 * text.num_hidden_layers * heads * head_dim * element_bytes


@lru_cache(maxsize=32)
def model_context_length(spec: ModelSpec) -> int:
    """How many tokens the model attends to: prompt plus output must fit."""
    config = _model_config(spec)
    limit = getattr(config, "max_position_embeddings", None) or config.n_positions
    return min(limit, model_tokenizer(spec).model_max_length)


@lru_cache(maxsize=32)
def model_version(spec: ModelSpec) -> str:
    """A fingerprint of the weights on disk (names, sizes, modification times): a cache
    entry made by other weights under the same name is never served."""
    digest = hashlib.sha256(repr(spec).encode())
    files = sorted(spec.path.rglob("*")) if spec.path.is_dir() else [spec.path]
    for file in files:
        if file.is_file():
            stat = file.stat()
            digest.update(
                f"{file.relative_to(spec.path.parent)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:16]
