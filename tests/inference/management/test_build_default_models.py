import io

import pytest
from diffusers import StableDiffusionPipeline
from django.core.management import call_command
from django.test import override_settings
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForSpeechSeq2Seq,
    AutoTokenizer,
    WhisperFeatureExtractor,
)

from inference.management.commands.build_default_models import BUILDERS
from inference.tasks.speech_detection import _silero

TINY = ("tiny-chat", "tiny-vit", "tiny-sd", "tiny-whisper")


def build(settings, tmp_path, *args) -> str:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("build_default_models", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The default models, built once for this module's loading tests."""
    var = tmp_path_factory.mktemp("var")
    with override_settings(VAR_DIR=var):
        call_command("build_default_models", stdout=io.StringIO())
    return var / "models"


def test_builds_all_six_then_keeps_them(settings, tmp_path):
    built = build(settings, tmp_path)
    assert [line.split(":")[0] for line in built.splitlines()] == list(BUILDERS)
    assert len(BUILDERS) == 6 and built.count("built in") == 6
    assert build(settings, tmp_path).count("present") == 6


def test_force_rebuilds_present_models(settings, tmp_path):
    build(settings, tmp_path)
    marker = tmp_path / "models" / "tiny-vit" / "stale"
    marker.touch()
    assert build(settings, tmp_path, "--force").count("built in") == 6
    assert not marker.exists()


def test_tiny_chat_loads_with_its_chat_tokenizer(models):
    model = AutoModelForCausalLM.from_pretrained(models / "tiny-chat", local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(models / "tiny-chat", local_files_only=True)
    assert model.config.n_layer == 4 and model.config.vocab_size == len(tokenizer)
    assert tokenizer.chat_template and tokenizer.pad_token == "<|pad|>"
    assert (models / "minilm-embed" / "config.json").exists()


def test_tiny_vit_loads_with_an_image_processor_of_its_size(models):
    model = AutoModelForImageClassification.from_pretrained(
        models / "tiny-vit", local_files_only=True
    )
    processor = AutoImageProcessor.from_pretrained(models / "tiny-vit", local_files_only=True)
    size = model.config.image_size
    assert processor.size == {"height": size, "width": size}
    assert len(model.config.id2label) == 10


def test_tiny_sd_loads_as_a_diffusers_pipeline_with_a_clip_tokenizer(models):
    pipeline = StableDiffusionPipeline.from_pretrained(models / "tiny-sd", local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(
        models / "tiny-sd", subfolder="tokenizer", local_files_only=True
    )
    assert type(pipeline.tokenizer).__name__ == type(tokenizer).__name__ == "CLIPTokenizer"
    ids = tokenizer("Zebra! quartz, jynx 42")["input_ids"]
    assert tokenizer.unk_token_id not in ids[1:-1]  # every byte has a token
    assert tokenizer.decode(ids, skip_special_tokens=True) == "zebra ! quartz , jynx 4 2"


def test_tiny_whisper_loads_and_transcribes_offline(models):
    path = models / "tiny-whisper"
    model = AutoModelForSpeechSeq2Seq.from_pretrained(path, local_files_only=True)
    extractor = WhisperFeatureExtractor.from_pretrained(path, local_files_only=True)
    features = extractor([0.0] * 16_000, sampling_rate=16_000, return_tensors="pt")
    tokens = model.generate(input_features=features["input_features"], max_length=5)
    assert tokens.shape[0] == 1 and 1 <= tokens.shape[1] <= 5


def test_silero_vad_links_the_packages_model(models):
    init_jit_model, _ = _silero()  # as the runner imports it, keeping torch's thread count
    assert (models / "silero-vad").is_symlink()
    init_jit_model(str(models / "silero-vad" / "silero_vad.jit"))


def test_weights_are_reproducible_from_seed_zero(settings, tmp_path):
    build(settings, tmp_path / "a")
    build(settings, tmp_path / "b")
    for name in TINY:
        files = sorted((tmp_path / "a" / "models" / name).rglob("*.safetensors"))
        assert files, name
        for file in files:
            first = load_file(file)
            second = load_file(tmp_path / "b" / file.relative_to(tmp_path / "a"))
            assert all((first[key] == second[key]).all() for key in first), file


def test_tokenizers_are_reproducible_so_ids_keep_their_meaning(settings, tmp_path):
    build(settings, tmp_path / "a")
    build(settings, tmp_path / "b")
    for name in TINY:
        for file in sorted((tmp_path / "a" / "models" / name).rglob("tokenizer.json")):
            assert (
                file.read_text() == (tmp_path / "b" / file.relative_to(tmp_path / "a")).read_text()
            )


def test_a_dangling_link_is_rebuilt(settings, tmp_path):
    link = tmp_path / "models" / "minilm-embed"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "gone")
    build(settings, tmp_path)
    assert link.resolve().exists()
