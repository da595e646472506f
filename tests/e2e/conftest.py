"""End-to-end fixtures: the real `strata serve` binary over HTTP.

A model directory is assembled in a temporary folder from a random-weight fixture checkpoint
(tests/fixtures/models/<name>) and the real tokenizer its golden.json names under
../shared/testdata (tokenizer.json gunzipped, tokenizer_config.json with the chat template).
Servers are started on demand by `serve(...)`, shared for the whole session (one per distinct
configuration), and at the end each one must still be alive and exit 0 on SIGTERM.
"""

import gzip
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import openai
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "models"
TESTDATA = Path(os.environ.get("STRATA_TESTDATA", REPO.parent / "shared" / "testdata"))
BINARY = Path(os.environ.get("STRATA_BINARY", REPO / "build" / "cpu" / "strata"))
# Extra `strata serve` flags for every server, e.g. "--device cuda --dtype float32" (tests/gpu/run.sh).
SERVER_ARGS = os.environ.get("STRATA_E2E_SERVER_ARGS", "").split()

# The served name per fixture; tests use these names in requests.
MODEL_NAMES = {"llama3": "tiny-llama", "qwen2": "tiny-qwen", "mistral": "tiny-r1"}
MAX_MODEL_LEN = 512
STARTUP_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 40


# Servers inherit this process's limits: raise the open-file limit before any starts (1000 concurrent
# connections need as many descriptors on both sides).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 8192 if _hard == resource.RLIM_INFINITY else min(_hard, 8192)
if _soft != resource.RLIM_INFINITY and _soft < _want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))


def pytest_collection_modifyitems(config, items):
    reasons = []
    if not TESTDATA.is_dir():
        reasons.append(f"test data not found at {TESTDATA} (expected ../shared/testdata next to the repository)")
    if not BINARY.is_file():
        reasons.append(f"strata binary not found at {BINARY} (build it or set STRATA_BINARY)")
    if reasons:
        skip = pytest.mark.skip(reason="; ".join(reasons))
        for item in items:
            item.add_marker(skip)


def golden(fixture):
    with open(FIXTURES / fixture / "golden.json") as f:
        return json.load(f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """{(name, frozenset(labels minus model_name/engine)): value} of every sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {k: v for k, v in s.labels.items() if k not in ("model_name", "engine")}
            out[(s.name, frozenset(labels.items()))] = s.value
    return out


class Server:
    def __init__(self, fixture, model_dir, name, args, log_path, env=None):
        self.fixture = fixture
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.model_dir = model_dir
        names = [] if "--served-model-name" in args else ["--served-model-name", name]
        cmd = [str(BINARY), "serve", str(model_dir), "--port", str(self.port), "--host", "127.0.0.1", *names,
               "--max-model-len", str(MAX_MODEL_LEN), "--kv-cache-memory", "64MiB", *SERVER_ARGS, *args]
        self.cmd = cmd
        self._log = open(log_path, "w")
        env = {**{k: v for k, v in os.environ.items() if k != "VLLM_API_KEY"}, **(env or {})}
        # The CPU backend's OpenMP threads spin while they wait by default; on a small machine shared
        # with the test client (and other jobs) that makes decoding several times slower.
        env.setdefault("OMP_WAIT_POLICY", "passive")
        self._terminated = False
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"strata serve exited with {self.proc.returncode} during startup:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"strata serve not healthy after {STARTUP_TIMEOUT_S} s:\n{self.log()}")

    def log(self):
        self._log.flush()
        return Path(self.log_path).read_text(errors="replace")[-4000:]

    def alive(self):
        return self.proc.poll() is None

    def terminate(self):
        self._terminated = True
        self.proc.send_signal(signal.SIGTERM)

    def client(self, **kw):
        kw.setdefault("api_key", "EMPTY")
        return openai.OpenAI(base_url=self.url + "/v1", max_retries=0, timeout=60, **kw)

    def post(self, path, body=None, **kw):
        kw.setdefault("timeout", 60)
        return requests.post(self.url + path, json=body, **kw)

    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.get(self.url + path, **kw)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)

    def wait_idle(self, timeout=20):
        """Waits until nothing runs or waits and the KV cache is empty; returns the last metrics."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            idle = (m[("vllm:num_requests_running", frozenset())] == 0
                    and m[("vllm:num_requests_waiting", frozenset())] == 0
                    and m[("vllm:kv_cache_usage_perc", frozenset())] == 0)
            if idle or time.time() > deadline:
                return m
            time.sleep(0.1)

    def stop(self):
        """SIGTERM; returns the exit code (None when it did not exit in time, then it is killed)."""
        if self.proc.poll() is None:
            if not self._terminated:
                self.terminate()
            try:
                self.proc.wait(SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                return None
        self._log.close()
        return self.proc.returncode


class ExternalServer(Server):
    """A server this suite did not start (STRATA_E2E_URL), e.g. the leader of a multi-node group
    (tests/multinode/netns_test.sh): started with the llama3 fixture, --served-model-name tiny-llama,
    --max-model-len 512 and --enable-request-id-headers, as the `server` fixture's own would be."""

    def __init__(self, url, name):
        self.fixture = "llama3"
        self.name = name
        self.url = url.rstrip("/")
        self.proc = None

    def log(self):
        return f"(external server at {self.url}: its log is kept by whoever started it)"

    def alive(self):
        return True


def assemble_model_dir(fixture, root):
    """A Hugging Face style model directory for `fixture` under `root`."""
    g = golden(fixture)
    tok_dir = TESTDATA / g["tokenizer"]
    if not (tok_dir / "tokenizer.json.gz").is_file():
        pytest.skip(f"tokenizer {tok_dir} not found in the test data")
    d = root / fixture
    d.mkdir()
    for f in (FIXTURES / fixture).iterdir():
        (d / f.name).symlink_to(f)
    with gzip.open(tok_dir / "tokenizer.json.gz", "rb") as src, open(d / "tokenizer.json", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copyfile(tok_dir / "tokenizer_config.json", d / "tokenizer_config.json")
    return d


@pytest.fixture(scope="session")
def serve(tmp_path_factory):
    """serve(fixture, *extra_flags, name=None, env=None) → a running Server, shared by every test that
    asks for the same configuration."""
    root = tmp_path_factory.mktemp("models")
    logs = tmp_path_factory.mktemp("logs")
    dirs, servers = {}, {}

    def get(fixture="llama3", *args, name=None, env=None):
        name = name or MODEL_NAMES[fixture]
        key = (fixture, name, tuple(args), tuple(sorted((env or {}).items())))
        if key not in servers:
            if fixture not in dirs:
                dirs[fixture] = assemble_model_dir(fixture, root)
            log = logs / f"{fixture}-{len(servers)}.log"
            servers[key] = Server(fixture, dirs[fixture], name, list(args), log, env)
        return servers[key]

    yield get
    problems = []
    dead = {key for key, s in servers.items() if not s.alive()}
    for key, s in servers.items():
        if key not in dead:
            s.terminate()  # all at once; each is waited for below
    for key, s in servers.items():
        if key in dead:
            problems.append(f"{key}: the server died (exit {s.proc.returncode}):\n{s.log()}")
            continue
        rc = s.stop()
        if rc != 0:
            problems.append(f"{key}: exit code {rc} after SIGTERM (expected 0):\n{s.log()}")
        log = Path(s.log_path).read_text(errors="replace")
        failed = [line for line in log.splitlines() if "handler failed" in line]
        if failed:  # an exception escaped a route: a 500 where a clear 4xx was due
            problems.append(f"{key}: {len(failed)} handler exceptions, e.g. {failed[0]}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def launch(tmp_path):
    """launch(fixture, *flags) → a Server this test owns (to signal or watch die); killed if left running."""
    started = []

    def get(fixture="llama3", *args, name=None):
        root = tmp_path / f"m{len(started)}"
        root.mkdir()
        s = Server(fixture, assemble_model_dir(fixture, root), name or MODEL_NAMES[fixture], list(args),
                   tmp_path / f"server{len(started)}.log")
        started.append(s)
        return s

    yield get
    for s in started:
        if s.alive():
            s.proc.kill()
            s.proc.wait()


@pytest.fixture(scope="session")
def server(serve):
    """The default server: llama3 fixture, request-id headers on (or STRATA_E2E_URL's, started so)."""
    if os.environ.get("STRATA_E2E_URL"):
        return ExternalServer(os.environ["STRATA_E2E_URL"], MODEL_NAMES["llama3"])
    return serve("llama3", "--enable-request-id-headers")


@pytest.fixture(scope="session")
def client(server):
    return server.client()


@pytest.fixture(scope="session")
def model(server):
    return server.name


def assert_error(resp, status, message=None, param="unset", etype=None):
    """An OpenAI/vLLM error body {"error":{"message","type","param","code"}} with this status."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers.get("Content-Type", "").startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    assert err["code"] == status, err
    if message is not None:
        if hasattr(message, "search"):
            assert message.search(err["message"]), err
        else:
            assert err["message"] == message, err
    if param != "unset":
        assert err["param"] == param, err
    if etype is not None:
        assert err["type"] == etype, err
    return err


def sse_events(resp):
    """The data payloads of an SSE response, as parsed JSON (the final [DONE] as the string)."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for line in resp.iter_lines(decode_unicode=False):
        if not line:
            continue
        assert line.startswith(b"data: "), line
        payload = line[len(b"data: "):]
        events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return events
