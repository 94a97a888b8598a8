"""`make bench`: Custos against the bare model, side by side in one run, into bench/RESULTS.md.

The bare limit is tiny-chat called in-process with transformers `generate` at batch sizes 1 to
32 (16 new tokens, greedy, every request forced to its full length). Custos is a real uvicorn
process serving the same weights, driven over HTTP by the official `openai` client at 1, 8 and
32 concurrent clients (each client its own thread and connection), asking for the same 16
tokens. Preprocessing per modality is compared with the bare library calls
(bench/preprocess.py). Then the data at rest and accountability: cache hits against misses over
HTTP (bench/cache.py), archive sealing against raw AES-GCM (bench/crypto.py), audit chain
verification (bench/audit.py), erasure of a heavy subject (bench/erasure.py) and retention over
a million rows (bench/retention.py), each in a scratch database of its own.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.audit import audit_table
from bench.cache import TURN_CACHE_ON, cache_latency, cache_table
from bench.crypto import crypto_table
from bench.erasure import erasure_table
from bench.retention import retention_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
PROMPT = "The patient agreed to share the scan with the clinic and asked about the results of it"
MAX_TOKENS = 16
BATCH_SIZES = (1, 2, 4, 8, 16, 32)
CONCURRENCY = {1: 40, 8: 20, 32: 10}  # clients -> requests per client
TORCH_THREADS = int(os.environ.get("BENCH_TORCH_THREADS", "1"))


# What the numbers have shown so far, and what was done about it; kept with every run.
FINDINGS = """## Where the time goes

- The in-process row runs validation, preprocessing, continuous batching, delivery and the log
  write for 32 concurrent callers with no HTTP; over the runs made so far it reached 0.6-0.8x
  of bare batch 32, the HTTP rows about 0.3x.
- Over HTTP, the web stack is the bottleneck on this 2-core machine. With the model busy on one
  core, Django's ASGI request cycle, DRF parsing, the token check, asgiref's thread hops and the
  SQLite log write cost about 9 ms of server CPU per /v1 request (py-spy; CPU time of the server
  process over a run), and the `openai` client on the same machine about 6 ms more. That bounds
  HTTP throughput near 70-100 requests/s whatever the engine does.
- At one client the added latency was 0-10 ms in most runs (once 19 ms, on a busy machine;
  measured alone, about 4 ms), and the server's memory stays flat.

Tried, in order (each measured with py-spy and CPU seconds per request):
1. WhiteNoise's middleware is sync-only, so every async request went through a thread; the
   async-capable `servestatic` replaced it.
2. django-rest-knox loaded every token of the user on every request (to delete expired ones);
   the token check now looks at the presented token only.
3. SQLite connections were reopened for each request; they are kept (-13 ms at one client).
4. The idle pool waited max_wait_ms for company; with continuous batching a lone request starts
   at once and later ones join at the next step (-5 ms at one client).
5. Tokens travel to the event loop one by one only when the request streams.
6. Django runs each classic middleware's hooks on one shared thread (about a dozen hops per
   request); /v1 now skips the browser middleware (54 -> 68 requests/s at 32 clients).
7. Database calls from async code on worker threads instead of that shared thread: no change.
   A shorter GIL switch interval: no change.

Next: serve /v1 through a lean ASGI path that calls the same services without Django's request
cycle, write log rows in batches, and run several server processes in front of one pool (the
scale-out design); run the clients on another machine.
"""


@dataclass
class Measure:
    label: str
    requests: int
    seconds: float
    tokens: int
    latencies_s: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    def percentile_ms(self, q: int) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def bare(models_dir: Path) -> dict[int, Measure]:
    """transformers `generate` in this process: the limit Custos is measured against."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(TORCH_THREADS)
    path = models_dir / "tiny-chat"
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    results = {}
    for batch in BATCH_SIZES:
        inputs = tokenizer([PROMPT] * batch, return_tensors="pt", padding=True)
        generate = dict(
            max_new_tokens=MAX_TOKENS,
            min_new_tokens=MAX_TOKENS,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.inference_mode():
            model.generate(**inputs, **generate)  # warm-up
            latencies = []
            rounds = max(3, 96 // batch)
            for _ in range(rounds):
                started = time.perf_counter()
                model.generate(**inputs, **generate)
                latencies.append(time.perf_counter() - started)
        total = sum(latencies)
        results[batch] = Measure(
            f"bare batch {batch}", rounds * batch, total, rounds * batch * MAX_TOKENS, latencies
        )
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_VAR_DIR": str(var_dir),
        "INFERENCE_TORCH_THREADS": str(TORCH_THREADS),
        "PORTAL_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }


def _manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@dataclass
class CustosRun:
    http: dict[int, Measure]
    in_process: Measure
    rss_after_100: int
    rss_after_1000: int
    preprocessing: dict
    cache: dict
    data: dict  # the data-at-rest and accountability benches, by module name


def custos(models_dir: Path) -> CustosRun:
    """A real uvicorn process in a scratch var/ of its own, driven by the openai client."""
    import openai

    with tempfile.TemporaryDirectory(prefix="custos-bench-") as scratch:
        var_dir = Path(scratch)
        (var_dir / "models").symlink_to(models_dir)
        env = _server_env(var_dir)
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "seed_demo")
        token = _manage(env, "issue_token", "demo-api")
        in_process = _in_process(env, clients=32, per_client=10)
        preprocessing = _module_json(env, "bench.preprocess", str(TORCH_THREADS))
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            _wait_until_up(base_url, token)
            http = {
                clients: _drive(openai, base_url, token, clients, per_client)
                for clients, per_client in CONCURRENCY.items()
            }
            rss_100, rss_1000 = _memory(openai, base_url, token, server.pid)
            _manage(env, "shell", "-c", TURN_CACHE_ON)
            cache = cache_latency(openai, base_url, token)
            data = _data_benches(models_dir)
            return CustosRun(http, in_process, rss_100, rss_1000, preprocessing, cache, data)
        finally:
            server.terminate()
            server.wait(10)


def _in_process(env: dict, *, clients: int, per_client: int) -> Measure:
    line = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.inprocess",
                str(clients),
                str(per_client),
                str(MAX_TOKENS),
                PROMPT,
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    _, requests, seconds, tokens, latencies = line.split(" ")
    return Measure(
        f"custos in-process {clients} callers",
        int(requests),
        float(seconds),
        int(tokens),
        [float(v) for v in latencies.split(",")],
    )


def _module_json(env: dict, module: str, *args: str) -> dict:
    """Run a bench module in the scratch var/; it prints one JSON object as its last line."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


DATA_BENCHES = {  # each in a fresh scratch database, so their rows do not meet
    "bench.crypto": crypto_table,
    "bench.audit": audit_table,
    "bench.erasure": erasure_table,
    "bench.retention": retention_table,
}


def _data_benches(models_dir: Path) -> dict:
    results = {}
    for module in DATA_BENCHES:
        with tempfile.TemporaryDirectory(prefix="custos-bench-data-") as scratch:
            env = _server_env(Path(scratch))
            (Path(scratch) / "models").symlink_to(models_dir)
            _manage(env, "migrate", "--noinput", "-v", "0")
            results[module] = _module_json(env, module)
    return results


def _preprocessing_table(results: dict) -> list[str]:
    rows = [
        "## Preprocessing (stages 1-2) against the bare library calls",
        "",
        "| modality | item | bare items/s | Custos items/s | Custos/bare |",
        "|---|---|---|---|---|",
    ]
    for modality, measure in results.items():
        rows.append(
            f"| {modality} | {measure['item']} | {measure['bare']:.1f} | "
            f"{measure['custos']:.1f} | {measure['custos'] / measure['bare']:.2f} |"
        )
    rows += [
        "",
        "Bare image: Pillow decode plus transformers' ViT image processor. Custos adds magic "
        "bytes, header limits, EXIF orientation and conversion to RGB, and normalizes on the "
        "model's device. Bare audio: soundfile plus torchaudio (resample, log-mel), padded to "
        "Whisper's 30 s window like Custos; Custos adds the header checks and keeps its "
        "resampling kernels and mel filter banks between requests.",
        "",
    ]
    return rows


def _rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory(openai, base_url: str, token: str, pid: int) -> tuple[int, int]:
    """Server RSS after 100 and after 1,000 requests of a fresh round (20 clients)."""
    _drive(openai, base_url, token, 20, 5)
    after_100 = _rss_bytes(pid)
    for _ in range(9):
        _drive(openai, base_url, token, 20, 5)
    return after_100, _rss_bytes(pid)


def _wait_until_up(base_url: str, token: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0)
    deadline = time.monotonic() + 120
    while True:
        try:
            client.models.list()
            return
        except openai.APIConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _drive(openai, base_url: str, token: str, clients: int, per_client: int) -> Measure:
    def one_client(_) -> tuple[list[float], int]:
        client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0)
        ask = dict(model="tiny-chat", prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0)
        client.completions.create(**ask)  # warm the connection
        latencies, tokens = [], 0
        for _ in range(per_client):
            started = time.perf_counter()
            reply = client.completions.create(**ask)
            latencies.append(time.perf_counter() - started)
            tokens += reply.usage.completion_tokens
        return latencies, tokens

    with ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        outcomes = list(pool.map(one_client, range(clients)))
        seconds = time.perf_counter() - started
    latencies = [value for lat, _ in outcomes for value in lat]
    tokens = sum(t for _, t in outcomes)
    return Measure(f"custos {clients} clients", len(latencies), seconds, tokens, latencies)


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    import torch
    import transformers

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, torch "
        f"{torch.__version__}, transformers {transformers.__version__}; torch threads "
        f"{TORCH_THREADS} (bare and server alike); clients in one process, one thread each."
    )


def _row(measure: Measure, reference: Measure | None) -> str:
    ratio = f"{measure.rps / reference.rps:.2f}" if reference else ""
    return (
        f"| {measure.label} | {measure.requests} | {measure.rps:.1f} | {measure.tokens_per_s:.0f} "
        f"| {measure.percentile_ms(50):.1f} | {measure.percentile_ms(95):.1f} "
        f"| {measure.percentile_ms(99):.1f} | {ratio} |"
    )


def report(bare_results: dict[int, Measure], run: CustosRun) -> str:
    custos_results = run.http
    header = (
        "| run | requests | requests/s | output tokens/s | p50 ms | p95 ms | p99 ms "
        "| Custos/bare |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [_row(m, None) for m in bare_results.values()]
    rows += [_row(custos_results[clients], bare_results[clients]) for clients in custos_results]
    rows.append(_row(run.in_process, bare_results[32]))
    growth = run.rss_after_1000 / run.rss_after_100 - 1
    single = custos_results[1].percentile_ms(50) - bare_results[1].percentile_ms(50)
    return "\n".join(
        [
            "# Benchmark: Custos against the bare model",
            "",
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench`. "
            f"Model tiny-chat, {MAX_TOKENS} new tokens, greedy; a {len(PROMPT.split())}-word "
            "prompt. The ratio compares Custos at N clients with bare `generate` at batch N.",
            "",
            f"Machine: {_machine()}",
            "",
            header,
            *rows,
            "",
            f"Added latency at one client (p50, Custos minus bare batch 1): {single:.1f} ms. "
            f"At 32: {custos_results[32].rps / bare_results[32].rps:.2f}x over HTTP (target "
            f"0.8x), {run.in_process.rps / bare_results[32].rps:.2f}x in-process.",
            "",
            f"Server memory (RSS): {run.rss_after_100 / 2**20:.0f} MiB after 100 requests, "
            f"{run.rss_after_1000 / 2**20:.0f} MiB after 1,000 ({growth:+.1%}).",
            "",
            *_preprocessing_table(run.preprocessing),
            *cache_table(run.cache),
            *(line for module, table in DATA_BENCHES.items() for line in table(run.data[module])),
            FINDINGS,
        ]
    )


def main() -> None:
    models_dir = ROOT / "var" / "models"
    bare_results = bare(models_dir)
    text = report(bare_results, custos(models_dir))
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
