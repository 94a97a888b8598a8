import pytest

from inference.pipeline.engine import ModelOutput
from inference.pipeline.postprocess import StreamDecoder, postprocess_generation
from inference.registry import model_get, model_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return model_tokenizer(model_get("tiny-chat"))


def stream(tokenizer, text: str, stop=()) -> tuple[list[str], StreamDecoder]:
    decoder = StreamDecoder(tokenizer, stop)
    pieces = [decoder.push([token]) for token in tokenizer(text)["input_ids"]]
    pieces.append(decoder.flush())
    return pieces, decoder


def test_streamed_pieces_add_up_to_the_text(tokenizer):
    text = "The patient agreed to share the scan."
    pieces, _ = stream(tokenizer, text)
    assert "".join(pieces) == text
    assert sum(1 for piece in pieces if piece) > 3


def test_a_character_split_across_tokens_is_emitted_whole(tokenizer):
    ids = tokenizer("é")["input_ids"]
    assert len(ids) == 2  # two bytes, two byte-level tokens
    decoder = StreamDecoder(tokenizer)
    assert decoder.push(ids[:1]) == ""
    assert decoder.push(ids[1:]) == "é"


def test_stop_sequence_ends_the_text_before_it(tokenizer):
    pieces, decoder = stream(tokenizer, "Hello world STOP and more", stop=("STOP",))
    assert "".join(pieces) == "Hello world "
    assert decoder.stopped


def test_a_possible_stop_prefix_is_held_back_until_resolved(tokenizer):
    decoder = StreamDecoder(tokenizer, ("STOP",))
    emitted = "".join(decoder.push([t]) for t in tokenizer("Hello ST")["input_ids"])
    assert emitted == "Hello "
    emitted += decoder.push(tokenizer("ay")["input_ids"]) + decoder.flush()
    assert emitted == "Hello STay"


def test_finish_reason_is_stop_when_a_stop_sequence_ended_it():
    output = ModelOutput(token_ids=(1, 2), finish_reason="cancelled", prompt_tokens=3)
    delivery = postprocess_generation(output, text="ab", stopped_by_sequence=True)
    assert (delivery.finish_reason, delivery.completion_tokens, delivery.prompt_tokens) == (
        "stop",
        2,
        3,
    )


def test_tokens_pushed_at_once_decode_like_tokens_pushed_one_by_one(tokenizer):
    text = "Délai: thirty days."
    decoder = StreamDecoder(tokenizer)
    assert decoder.push(tokenizer(text)["input_ids"]) + decoder.flush() == text
