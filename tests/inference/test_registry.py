from dataclasses import replace

import pytest
import torch
from django.core.exceptions import ImproperlyConfigured

from inference.registry import (
    catalogue_load,
    model_context_length,
    model_device,
    model_dtype,
    model_get,
    model_list,
)
from portal.errors import ApiError


def write(tmp_path, text: str) -> str:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return str(path)


def test_default_catalogue_names_the_stable_models():
    assert [(m.name, m.task) for m in model_list()] == [
        ("tiny-chat", "text-generation"),
        ("minilm-embed", "embeddings"),
        ("tiny-vit", "image-classification"),
        ("tiny-sd", "image-generation"),
        ("tiny-whisper", "transcription"),
        ("silero-vad", "speech-detection"),
    ]


def test_relative_paths_live_under_var_models(settings):
    assert model_get("tiny-chat").path == settings.VAR_DIR / "models" / "tiny-chat"


def test_portal_models_points_at_another_catalogue(tmp_path, settings):
    settings.PORTAL_MODELS = write(
        tmp_path,
        '[[models]]\nname = "big"\ntask = "text-generation"\npath = "/srv/big"\n'
        'device = "cuda:1"\ndtype = "float16"\nmax_batch_size = 4\nregion = "eu"\n',
    )
    spec = model_get("big")
    assert (
        str(spec.path),
        spec.device,
        spec.dtype,
        spec.max_batch_size,
        spec.pool,
        spec.region,
    ) == (
        "/srv/big",
        "cuda:1",
        "float16",
        4,
        "big",
        "eu",
    )


@pytest.mark.parametrize(
    "text",
    [
        '[[models]]\nname = "x"\ntask = "dreaming"\npath = "x"\n',
        '[[models]]\nname = "x"\ntask = "embeddings"\npath = "x"\ncolour = "red"\n',
        '[[models]]\nname = "x"\ntask = "embeddings"\npath = "x"\ndtype = "int3"\n',
        '[[models]]\nname = "x"\ntask = "embeddings"\npath = "x"\n' * 2,
        "not toml at all [",
        '[[models]]\nname = "a"\ntask = "embeddings"\npath = "a"\ndevice = "cuda:1"\n'
        'tenants = ["acme"]\n[[models]]\nname = "b"\ntask = "embeddings"\npath = "b"\n'
        'device = "cuda:1"\n',
    ],
)
def test_a_malformed_catalogue_stops_the_server(tmp_path, text):
    with pytest.raises(ImproperlyConfigured):
        catalogue_load(write(tmp_path, text))


def test_unknown_model_is_model_not_found():
    with pytest.raises(ApiError) as raised:
        model_get("nope")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"


def test_auto_device_is_cuda_only_when_available(settings):
    spec = model_get("tiny-chat")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model_device(spec).type == expected
    settings.INFERENCE_DEVICE = "cpu"
    assert model_device(spec) == torch.device("cpu")
    assert model_dtype(spec) == torch.float32


def test_context_length_comes_from_the_model_config():
    assert model_context_length(model_get("tiny-chat")) == 512
    assert model_context_length(model_get("minilm-embed")) == 512


def test_a_gpu_or_mig_uuid_must_be_visible_to_the_process(monkeypatch):
    spec = replace(model_get("tiny-chat"), device="MIG-4f1c2d3e")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0a,MIG-4f1c2d3e")
    assert model_device(spec) == torch.device("cuda:1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(ImproperlyConfigured):
        model_device(spec)
