"""Stage 3, execute: model pools, step-level scheduling, admission, devices.

A pool loads its model once, on the device the catalogue names, and owns one worker thread
that runs the model one step at a time. Requests reach it as `Handle`s through a queue;
between two steps `admit` decides who joins the running batch (free slots, the KV-cache budget,
tenant isolation) and the task's runner computes the step, pushing tokens and each request's
final `ModelOutput` back through its handle. Handles bridge the worker thread and the caller: an
asyncio caller receives events on its own loop, a synchronous caller (a script, a test) blocks
on a plain queue.

What must stay true: only loaded models and the pool's worker live long; everything a request
put on the device is released when it leaves the batch.
"""

import asyncio
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from queue import Empty, Queue
from typing import Any

import torch
from django.conf import settings

from inference.registry import ModelSpec, model_available, model_get
from portal.errors import ApiError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOutput:
    """What the model produced for one request, before decoding."""

    token_ids: tuple[int, ...] = ()
    vectors: tuple[tuple[float, ...], ...] = ()
    labels: tuple[tuple[str, float], ...] = ()  # classification: (label, score), best first
    images: tuple[Any, ...] = ()  # generation: uint8 arrays (H, W, 3); deliver encodes them
    segments: tuple[tuple[float, float], ...] = ()  # speech: (start_s, end_s)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    queue_ms: float = 0.0
    execute_ms: float = 0.0


@dataclass(frozen=True)
class TokenEvent:
    token_id: int


@dataclass(frozen=True)
class ProgressEvent:
    """One denoising step (or other unit of work) of a long request is done."""

    step: int
    total: int


@dataclass(eq=False)
class Handle:
    """One request inside the engine: its input, its cancellation flag, and its event sink."""

    prepared: Any
    loop: asyncio.AbstractEventLoop | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    admitted_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._events = asyncio.Queue() if self.loop else queue.Queue()

    def _put(self, event) -> None:
        if self.loop is None:
            self._events.put(event)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._events.put_nowait, event)

    # called by runners, on the worker thread
    def emit_token(self, token_id: int) -> None:
        self._put(TokenEvent(token_id))

    def emit_progress(self, step: int, total: int) -> None:
        self._put(ProgressEvent(step, total))

    def finish(self, output: ModelOutput) -> None:
        self._put(output)

    def fail(self, error: BaseException) -> None:
        self._put(error)

    # called by the caller
    @property
    def queue_ms(self) -> float:
        return ((self.admitted_at or time.monotonic()) - self.submitted_at) * 1000

    def cancel(self) -> None:
        """Stop generating for this request; its batch slot is freed at the next step."""
        self.cancelled.set()

    async def events(self) -> AsyncIterator[TokenEvent | ProgressEvent | ModelOutput]:
        """Tokens as they are produced, then the ModelOutput; raises what the batch raised."""
        while True:
            event = await self._events.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, ModelOutput):
                return

    def wait(self, timeout_s: float) -> ModelOutput:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0))
            except Empty:
                self.cancel()
                raise ApiError("service_unavailable", "The model did not answer in time.") from None
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, ModelOutput):
                return event


def collect_batch(handles: Queue, *, max_size: int, max_wait_s: float) -> list[Handle]:
    """Block for the first item, then give others at most max_wait_s to join."""
    batch = [handles.get()]
    deadline = time.monotonic() + max_wait_s
    while len(batch) < max_size and (left := deadline - time.monotonic()) > 0:
        try:
            batch.append(handles.get(timeout=left))
        except Empty:
            break
    return batch


def admit(
    waiting: deque[Handle],
    *,
    free_slots: int,
    free_kv_bytes: float,
    tenant_id: int | None,
    dedicated: bool,
) -> list[Handle]:
    """Take from the front of `waiting` what may join the running batch now.

    In arrival order, while there are free slots and the KV-cache budget holds; a request that
    does not fit waits (and keeps everyone behind it waiting: no overtaking). In a pool
    dedicated to tenants, a batch never mixes tenants.
    """
    joining: list[Handle] = []
    while waiting and len(joining) < free_slots:
        handle = waiting[0]
        kv_bytes = getattr(handle.prepared, "kv_cache_bytes", 0)
        if kv_bytes > free_kv_bytes:
            break
        tenant = getattr(handle.prepared, "tenant_id", None)
        if dedicated and tenant_id is not None and tenant != tenant_id:
            break
        tenant_id = tenant
        free_kv_bytes -= kv_bytes
        joining.append(waiting.popleft())
    return joining


class Pool:
    """One model's weights on one device, and the worker thread that schedules its requests.

    The worker runs the model one step at a time: between two steps, waiting requests are
    admitted into the running batch (KV-cache budget and free slots allowing), and requests
    that finished or were cancelled have already left it. A runner without steps (embeddings)
    finishes everything it is given in one step.
    """

    def __init__(self, spec: ModelSpec, runner):
        self.spec = spec
        self.runner = runner
        self.device = runner.device
        self.steps_run = 0  # how many times the model ran
        self._queue: Queue[Handle] = Queue()
        self._waiting: deque[Handle] = deque()
        self._thread = threading.Thread(target=self._work, name=f"pool-{spec.pool}", daemon=True)
        self._thread.start()

    def submit(self, prepared, *, loop: asyncio.AbstractEventLoop | None = None) -> Handle:
        handle = Handle(prepared=prepared, loop=loop)
        self._queue.put(handle)
        return handle

    @property
    def kv_cache_budget_bytes(self) -> float:
        return self.spec.kv_cache_budget_mb * 2**20 if self.spec.kv_cache_budget_mb else math.inf

    def info(self) -> dict:
        return {
            "device": str(self.device),
            "dtype": str(self.runner.dtype).removeprefix("torch."),
            "weight_bytes": self.runner.weight_bytes,
            "state": "ready" if self._thread.is_alive() else "stopped",
            "running": len(self.runner.running),
            "waiting": self._queue.qsize() + len(self._waiting),
            "steps_run": self.steps_run,
            "tenants": list(self.spec.tenants),
        }

    def _work(self) -> None:
        if settings.INFERENCE_TORCH_THREADS:
            torch.set_num_threads(settings.INFERENCE_TORCH_THREADS)
        while True:
            self._gather()
            joining = self._admit()
            if joining or self.runner.running:
                self._step(joining)

    def _gather(self) -> None:
        """Move arrivals to the waiting line: block when idle, never while a batch runs."""
        if not self.runner.running and not self._waiting:
            self._waiting.extend(
                collect_batch(
                    self._queue,
                    max_size=self.spec.max_batch_size,
                    max_wait_s=self.spec.max_wait_ms / 1000,
                )
            )
        while True:
            try:
                self._waiting.append(self._queue.get_nowait())
            except Empty:
                break
        for handle in [h for h in self._waiting if h.cancelled.is_set()]:
            self._waiting.remove(handle)  # gave up while waiting: never reaches the model
            handle.finish(ModelOutput(finish_reason="cancelled"))

    def _admit(self) -> list[Handle]:
        running = self.runner.running
        used = sum(getattr(h.prepared, "kv_cache_bytes", 0) for h in running)
        joining = admit(
            self._waiting,
            free_slots=self.spec.max_batch_size - len(running),
            free_kv_bytes=self.kv_cache_budget_bytes - used,
            tenant_id=getattr(running[0].prepared, "tenant_id", None) if running else None,
            dedicated=bool(self.spec.tenants),
        )
        now = time.monotonic()
        for handle in joining:
            handle.admitted_at = now
        return joining

    def _step(self, joining: list[Handle]) -> None:
        """One step of the model; a failure fails the requests in it, and the pool goes on."""
        self.steps_run += 1
        try:
            with torch.inference_mode():
                self.runner.step(joining)
        except Exception as exc:  # noqa: BLE001 - reported to every request of the step
            logger.error("step failed on pool %s", self.spec.pool, exc_info=exc)
            failed = {id(h): h for h in [*self.runner.running, *joining]}
            self.runner.reset()
            for handle in failed.values():
                handle.fail(ApiError("internal_error", "The model failed on this batch."))
        if not self.runner.running and self.device.type == "cuda":
            torch.cuda.empty_cache()  # give freed blocks back to the driver while idle


_pools: dict[str, Pool] = {}
_pools_lock = threading.Lock()


def pool_get(model_name: str) -> Pool:
    """The model's pool, loading its weights on first use (or at server start)."""
    spec = model_get(model_name)
    pool = _pools.get(spec.name)
    if pool is not None:
        return pool
    with _pools_lock:
        if spec.name not in _pools:
            _pools[spec.name] = _pool_start(spec)
        return _pools[spec.name]


def _pool_start(spec: ModelSpec) -> Pool:
    from inference.tasks import RUNNERS

    runner = RUNNERS[spec.task](model_available(spec))
    logger.info("pool %s loaded %s on %s", spec.pool, spec.name, runner.device)
    return Pool(spec, runner)


def pools_start_all() -> None:
    from inference.registry import model_list

    for spec in model_list():
        if spec.path.exists():
            pool_get(spec.name)


def pool_infos() -> dict[str, dict]:
    return {name: {"model": pool.spec.name, **pool.info()} for name, pool in _pools.items()}


def steps_run_total() -> int:
    """Model steps run by every pool of this process: what proves a refusal reached no model."""
    return sum(pool.steps_run for pool in _pools.values())
