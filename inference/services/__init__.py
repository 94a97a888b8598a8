"""The only place that knows the stage order: validate, preprocess, execute, deliver, record.

Every entry point (the /v1 and /api/v1 views, the websocket consumer, jobs) calls these
services, so a request behaves the same whichever door it came through. Every outcome,
success, refusal, failure or cancellation, writes exactly one metadata-only log row.
"""

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from django.utils import timezone

from compliance.services.request_log import RequestLogEntry, request_log_awrite
from compliance.services.subjects import subject_pseudonym_get, subject_reference
from inference.pipeline.engine import ModelOutput, ProgressEvent, pool_get
from inference.pipeline.postprocess import (
    Delivery,
    StreamDecoder,
    postprocess_embeddings,
    postprocess_generation,
)
from inference.pipeline.preprocess.text import preprocess_embeddings, preprocess_generation
from inference.pipeline.validate import (
    Caller,
    EmbeddingsPayload,
    GenerationPayload,
    ValidatedRequest,
    validate_embeddings,
    validate_generation,
)
from inference.registry import model_list
from inference.services.guard import guard_input, guard_output
from inference.services.keeping import CachePlan, cache_plan, delivery_keep
from portal.db import in_thread
from portal.errors import ApiError

# Log writes in flight from streams that may be cancelled: held so they are not collected.
_pending_records: set[asyncio.Task] = set()


@dataclass
class StageClock:
    """Stage timings of one request, in milliseconds."""

    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)
    _last: float = 0.0

    def __post_init__(self):
        self._last = self.started

    def add(self, stage: str, started: float) -> None:
        """Count the time since `started` towards a stage that runs in pieces (delivery)."""
        self.marks[stage] = self.marks.get(stage, 0.0) + (time.monotonic() - started) * 1000

    def mark(self, stage: str) -> None:
        now = time.monotonic()
        self.marks[stage] = self.marks.get(stage, 0.0) + (now - self._last) * 1000
        self._last = now

    def total_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000


def _log_entry(
    caller: Caller,
    *,
    status_code: int,
    subject: str = "",
    request: ValidatedRequest | None = None,
    delivery: Delivery | None = None,
    error_code: str = "",
    clock: StageClock | None = None,
    model: str = "",
    **measures,
) -> RequestLogEntry:
    spec = request.model if request else None
    marks = clock.marks if clock else {}
    return RequestLogEntry(
        request_id=caller.request_id,
        created_at=timezone.now(),
        endpoint=caller.endpoint,
        status_code=status_code,
        tenant_id=caller.tenant.id,
        actor_id=caller.user_id,
        subject=subject,
        model=spec.name if spec else _known_model(model),
        modality=spec.modality if spec else "",
        task=spec.task if spec else "",
        error_code=error_code,
        streamed=bool(getattr(request, "stream", False)),
        request_bytes=caller.request_bytes,
        prompt_tokens=delivery.prompt_tokens if delivery else 0,
        completion_tokens=delivery.completion_tokens if delivery else 0,
        validate_ms=marks.get("validate", 0.0),
        preprocess_ms=marks.get("preprocess", 0.0),
        queue_ms=delivery.queue_ms if delivery else 0.0,
        kv_cache_bytes=getattr(request, "kv_cache_bytes", 0),
        execute_ms=delivery.execute_ms if delivery else 0.0,
        postprocess_ms=marks.get("postprocess", 0.0),
        total_ms=clock.total_ms() if clock else 0.0,
        cache=delivery.cache if delivery else "",
        archived=delivery.archived if delivery else False,
        **measures,
    )


async def _write_shielded(entry: RequestLogEntry) -> None:
    """Write a log row even if the caller is cancelled again meanwhile (a client that hung
    up); the set keeps the write alive until it lands."""
    write = asyncio.ensure_future(request_log_awrite(entry))
    _pending_records.add(write)
    write.add_done_callback(_pending_records.discard)
    await asyncio.shield(write)


def _known_model(name: str) -> str:
    """A refused request's model name, if it is one of ours: the field is free text, and the
    log keeps no text a caller chose."""
    return name if any(spec.name == name for spec in model_list()) else ""


async def subject_of(caller: Caller) -> str:
    if caller.subject:
        return caller.subject
    return await in_thread(subject_pseudonym_get)(
        tenant_id=caller.tenant.id, reference=caller.subject_reference
    )


async def _record_unserved(
    caller: Caller, *, status_code: int, error_code: str, clock: StageClock, model: str
) -> None:
    """The row of a request that never reached a model."""
    subject = await subject_of(caller)
    await request_log_awrite(
        _log_entry(
            caller,
            status_code=status_code,
            subject=subject,
            error_code=error_code,
            clock=clock,
            model=model,
        )
    )


async def _refuse(caller: Caller, error: ApiError, *, clock: StageClock, model: str) -> ApiError:
    """Record a request refused before reaching a model, and hand the error back to raise."""
    await _record_unserved(
        caller, status_code=error.status, error_code=error.code, clock=clock, model=model
    )
    error.recorded = True
    return error


def _abandon(handle, loop, request: ValidatedRequest, subject: str, clock: StageClock) -> None:
    """A run dropped before it was read: stop it and write its row (status 499)."""
    if handle is not None:
        handle.cancel()
    entry = _log_entry(
        request.caller,
        status_code=499,
        subject=subject,
        request=request,
        error_code="cancelled",
        clock=clock,
    )

    def write() -> None:
        task = loop.create_task(request_log_awrite(entry))
        _pending_records.add(task)
        task.add_done_callback(_pending_records.discard)

    if not loop.is_closed():
        loop.call_soon_threadsafe(write)


class GenerationRun:
    """One text generation request, admitted to its pool or answered from the cache;
    `pieces()` delivers it."""

    def __init__(
        self, request: ValidatedRequest, payload, subject: str, clock: StageClock, plan: CachePlan
    ):
        self.request = request
        self.subject = subject
        self.cache = plan.outcome
        self.delivery: Delivery | None = None
        self._payload = payload
        self._plan = plan
        self._clock = clock
        loop = asyncio.get_running_loop()
        self._handle = None if plan.delivery else self._submit(request, loop)
        clock.mark("preprocess")
        # NOTE: a client can hang up before anyone reads this run (Django then never starts
        # the response's generator); if the run is dropped unread, it is cancelled and
        # recorded all the same.
        self._unread = weakref.finalize(self, _abandon, self._handle, loop, request, subject, clock)

    def _submit(self, request: ValidatedRequest, loop):
        pool = pool_get(request.model.name)
        self._decoder = StreamDecoder(pool.runner.tokenizer, request.stop)
        return pool.submit(preprocess_generation(request), loop=loop)

    async def _generated(self) -> AsyncIterator[str]:
        """Text from the model as it becomes final; sets the delivery at the end."""
        text: list[str] = []
        async for event in self._handle.events():
            started = time.monotonic()
            if isinstance(event, ModelOutput):
                unseen = event.token_ids[self._decoder.token_count :]
                tail = self._decoder.push(unseen) + self._decoder.flush()
                text.append(tail)
                self.delivery = postprocess_generation(
                    event, text="".join(text), stopped_by_sequence=self._decoder.stopped
                )
                self._clock.add("postprocess", started)
                if tail:
                    yield tail
                return
            piece = self._decoder.push([event.token_id])
            if self._decoder.stopped:
                self._handle.cancel()
            self._clock.add("postprocess", started)
            if piece:
                text.append(piece)
                yield piece

    async def pieces(self) -> AsyncIterator[str]:
        """Text as it becomes final; records the request however the stream ends."""
        self._unread.detach()
        outcome: tuple[int, str] = (500, "internal_error")
        try:
            if self._plan.delivery is not None:
                self.delivery = self._plan.delivery
                yield self.delivery.text
            else:
                async for piece in self._generated():
                    yield piece
            self.delivery = await in_thread(delivery_keep)(
                self.request, self._payload, self.delivery, subject=self.subject, plan=self._plan
            )
            outcome = (200, "")
        except ApiError as error:
            outcome = (error.status, error.code)
            error.recorded = True
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome = (499, "cancelled")
            raise
        finally:
            if self._handle is not None:
                self._handle.cancel()
            await self._record(*outcome)

    async def _record(self, status_code: int, error_code: str) -> None:
        entry = _log_entry(
            self.request.caller,
            status_code=status_code,
            subject=self.subject,
            request=self.request,
            delivery=self.delivery,
            error_code=error_code,
            clock=self._clock,
        )
        await _write_shielded(entry)

    async def complete(self) -> Delivery:
        async for _ in self.pieces():
            pass
        return self.delivery


async def validated(validate: Callable, *, caller: Caller, payload, clock: StageClock):
    """Stage 1, off the event loop; a refusal is recorded before it is raised."""
    try:
        request = await in_thread(validate)(caller=caller, payload=payload)
    except ApiError as error:
        raise await _refuse(caller, error, clock=clock, model=payload.model) from None
    except asyncio.CancelledError:  # the client hung up while its request was checked
        unserved = _record_unserved(
            caller, status_code=499, error_code="cancelled", clock=clock, model=payload.model
        )
        await asyncio.shield(unserved)
        raise
    clock.mark("validate")
    return request


async def generation_start(*, caller: Caller, payload: GenerationPayload) -> GenerationRun:
    """Stages 1-3 up to admission (or a cache hit): refusals raise here, before any
    response is sent."""
    clock = StageClock()
    request = await validated(validate_generation, caller=caller, payload=payload, clock=clock)
    subject = await subject_of(caller)
    try:
        plan = await cache_plan(request, payload, subject=subject)
        return GenerationRun(request, payload, subject, clock, plan)
    except ApiError as error:
        raise await _refuse(caller, error, clock=clock, model=payload.model) from None


async def embeddings_create(*, caller: Caller, payload: EmbeddingsPayload) -> Delivery:
    return await run_once(
        caller=caller,
        payload=payload,
        validate=validate_embeddings,
        preprocess=preprocess_embeddings,
        postprocess=lambda request, output: postprocess_embeddings(output),
    )


async def run_once(
    *,
    caller: Caller,
    payload,
    validate: Callable,
    preprocess: Callable,
    postprocess: Callable,
    measures: Callable = lambda request, delivery: {},
    on_progress: Callable | None = None,
) -> Delivery:
    """The stage order for a task that answers once (no token stream): embeddings, images,
    audio. Progress events, where the runner sends them, go to `on_progress(step, total)`."""
    clock = StageClock()
    request = await validated(validate, caller=caller, payload=payload, clock=clock)
    subject = await subject_of(caller)
    try:
        request = await guard_input(request)
        plan = await cache_plan(request, payload, subject=subject)
        handle = None
        if plan.delivery is None:
            pool = pool_get(request.model.name)
            prepared = await in_thread(preprocess)(request)
            handle = pool.submit(prepared, loop=asyncio.get_running_loop())
        clock.mark("preprocess")
    except ApiError as error:
        raise await _refuse(caller, error, clock=clock, model=payload.model) from None
    status, code, delivery = 500, "internal_error", None
    try:
        output = plan.delivery
        if handle is not None:
            async for event in handle.events():
                if isinstance(event, ProgressEvent):
                    if on_progress is not None:
                        await on_progress(event.step, event.total)
                    continue
                started = time.monotonic()
                output = await in_thread(postprocess)(request, event)
                clock.add("postprocess", started)
            request = await guard_output(request, output)
        delivery = await in_thread(delivery_keep)(
            request, payload, output, subject=subject, plan=plan
        )
        status, code = 200, ""
        return delivery
    except ApiError as error:
        status, code = error.status, error.code
        error.recorded = True
        raise
    except (asyncio.CancelledError, GeneratorExit):
        status, code = 499, "cancelled"
        if handle is not None:
            handle.cancel()
        raise
    finally:
        entry = _log_entry(
            caller,
            status_code=status,
            subject=subject,
            request=request,
            delivery=delivery,
            error_code=code,
            clock=clock,
            **(measures(request, delivery) if delivery else {}),
        )
        await _write_shielded(entry)


async def request_failure_record(
    *,
    request_id: str,
    endpoint: str,
    status_code: int,
    error_code: str,
    user,
    request_bytes: int,
) -> None:
    """Record a request refused before the pipeline saw it (authentication, parsing, shape)."""
    tenant_id = getattr(user, "tenant_id", None)  # None when authentication failed
    subject = ""
    if tenant_id is not None:
        subject = await in_thread(subject_pseudonym_get)(
            tenant_id=tenant_id, reference=subject_reference(user_id=user.id)
        )
    await request_log_awrite(
        RequestLogEntry(
            request_id=request_id,
            created_at=timezone.now(),
            endpoint=endpoint,
            status_code=status_code,
            tenant_id=tenant_id,
            actor_id=getattr(user, "id", None),
            subject=subject,
            error_code=error_code,
            request_bytes=request_bytes,
        )
    )
