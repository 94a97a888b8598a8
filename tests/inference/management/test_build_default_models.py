import io

from django.core.management import call_command
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer


def build(settings, tmp_path, *args) -> str:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("build_default_models", *args, stdout=out)
    return out.getvalue()


def test_builds_loadable_offline_models_then_keeps_them(settings, tmp_path):
    assert "built" in build(settings, tmp_path)
    chat = tmp_path / "models" / "tiny-chat"
    model = AutoModelForCausalLM.from_pretrained(chat, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(chat, local_files_only=True)
    assert model.config.n_layer == 4 and model.config.vocab_size == len(tokenizer)
    assert tokenizer.chat_template and tokenizer.pad_token == "<|pad|>"
    assert (tmp_path / "models" / "minilm-embed" / "config.json").exists()
    assert "present" in build(settings, tmp_path)


def test_weights_are_reproducible_from_seed_zero(settings, tmp_path):
    build(settings, tmp_path / "a")
    build(settings, tmp_path / "b")
    first = load_file(tmp_path / "a" / "models" / "tiny-chat" / "model.safetensors")
    second = load_file(tmp_path / "b" / "models" / "tiny-chat" / "model.safetensors")
    assert all((first[name] == second[name]).all() for name in first)


def test_a_dangling_link_is_rebuilt(settings, tmp_path):
    link = tmp_path / "models" / "minilm-embed"
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "gone")
    build(settings, tmp_path)
    assert link.resolve().exists()
