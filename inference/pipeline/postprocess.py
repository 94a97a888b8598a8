"""Stage 4, deliver: token ids become text, streamed as it becomes printable.

The streaming decoder emits only text that can no longer change: a byte-level token can end
in the middle of a UTF-8 character, and text that might be the start of a stop sequence is
held back until it is known not to be one. Streaming and non-streaming answers go through the
same decoder, so both end at the same place; a request that is not streamed (and has no stop
sequence) is decoded once, at the end.
"""

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

from PIL import Image

from inference.pipeline.engine import ModelOutput

REPLACEMENT_CHAR = "\ufffd"


@dataclass(frozen=True)
class Delivery:
    """What the caller receives, with the measures stage 5 records."""

    text: str = ""
    vectors: tuple[tuple[float, ...], ...] = ()
    labels: tuple[tuple[str, float], ...] = ()
    images_png: tuple[bytes, ...] = ()
    segments: tuple[tuple[float, float], ...] = ()
    duration_s: float = 0.0  # of the audio a transcript or segments came from
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    queue_ms: float = 0.0
    execute_ms: float = 0.0
    cache: str = "bypass"  # hit | miss | bypass: how stage 4's cache was used
    archived: bool = False


_RECORD_ONLY = ("queue_ms", "execute_ms", "cache", "archived")


def delivery_content(delivery: Delivery) -> dict:
    """What was delivered, as JSON-able values (images base64), without timings: what the
    cache and the archive keep."""
    content = {name: value for name, value in asdict(delivery).items() if name not in _RECORD_ONLY}
    content["images_png"] = [base64.b64encode(png).decode() for png in delivery.images_png]
    return content


def delivery_pack(delivery: Delivery) -> bytes:
    return json.dumps(delivery_content(delivery), separators=(",", ":")).encode()


def _frozen(value):
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def delivery_unpack(data: bytes) -> Delivery:
    """A delivery kept by `delivery_pack`, as it was first delivered."""
    content = json.loads(data)
    content["images_png"] = [base64.b64decode(png) for png in content["images_png"]]
    known = {field.name for field in fields(Delivery)}
    return replace(Delivery(), **{name: _frozen(v) for name, v in content.items() if name in known})


class StreamDecoder:
    """Incremental detokenizer with stop sequences."""

    def __init__(self, tokenizer, stop: tuple[str, ...] = ()):
        self._tokenizer = tokenizer
        self._stop = stop
        self._ids: list[int] = []
        self._text = ""  # everything decoded so far
        self._sent = 0  # how much of _text was emitted
        self.stopped = False

    @property
    def token_count(self) -> int:
        return len(self._ids)

    def push(self, token_ids: Sequence[int]) -> str:
        """Add tokens; return the text that is now final (possibly empty)."""
        if self.stopped or not token_ids:
            return ""
        self._ids.extend(token_ids)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith(REPLACEMENT_CHAR):
            return ""  # an unfinished UTF-8 sequence: wait for the next token
        self._text = text
        return self._release(final=False)

    def flush(self) -> str:
        """The text still held back, once no more tokens will come."""
        if not self.stopped:
            self._text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        for stop in self._stop:
            at = self._text.find(stop, max(self._sent - len(stop) + 1, 0))
            if at != -1:
                self.stopped = True
                self._text = self._text[:at]
                break
        end = len(self._text)
        if not final and not self.stopped:
            end -= self._held_back()
        piece = self._text[self._sent : max(end, self._sent)]
        self._sent = max(end, self._sent)
        return piece

    def _held_back(self) -> int:
        """Length of the longest tail of the text that begins some stop sequence."""
        longest = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(self._text)), longest, -1):
                if self._text.endswith(stop[:size]):
                    longest = size
                    break
        return longest


def postprocess_generation(
    output: ModelOutput, *, text: str, stopped_by_sequence: bool
) -> Delivery:
    return Delivery(
        text=text,
        finish_reason="stop" if stopped_by_sequence else output.finish_reason,
        prompt_tokens=output.prompt_tokens,
        completion_tokens=len(output.token_ids),
        queue_ms=output.queue_ms,
        execute_ms=output.execute_ms,
    )


def postprocess_embeddings(output: ModelOutput) -> Delivery:
    return Delivery(
        vectors=output.vectors,
        prompt_tokens=output.prompt_tokens,
        queue_ms=output.queue_ms,
        execute_ms=output.execute_ms,
    )


def _timings(output: ModelOutput) -> dict:
    return {"queue_ms": output.queue_ms, "execute_ms": output.execute_ms}


def postprocess_classification(output: ModelOutput) -> Delivery:
    return Delivery(labels=output.labels, **_timings(output))


def postprocess_images(output: ModelOutput) -> Delivery:
    """Encode each generated image as PNG; the arrays are dropped with the output."""
    return Delivery(images_png=tuple(_png(image) for image in output.images), **_timings(output))


def postprocess_transcription(output: ModelOutput, *, tokenizer, duration_s: float) -> Delivery:
    text = tokenizer.decode(list(output.token_ids), skip_special_tokens=True).strip()
    return Delivery(
        text=text,
        duration_s=duration_s,
        finish_reason=output.finish_reason,
        completion_tokens=len(output.token_ids),
        **_timings(output),
    )


def postprocess_segments(output: ModelOutput, *, duration_s: float) -> Delivery:
    return Delivery(segments=output.segments, duration_s=duration_s, **_timings(output))


def _png(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
