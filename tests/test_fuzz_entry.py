"""Fuzz that reaches every entry point (issue 22): every CLI command through `main()`, corpora whose path fields
escape, and the HTTP service on loopback, each case counted per entry point and the counts asserted.

Invariants. CLI: exit 0, 2 (bad input), 3 (an OS error naming the file) or 130 (the per-case time bound, counted
apart and held to a small share), never 1 (internal error) or a traceback. HTTP: never a 5xx, the server alive and
its log free of tracebacks. Opens: an audit hook (sys.addaudithook) sees every `open` of the process (the server
installs the same hook: tests/fuzz_serve_main.py); each path, resolved, must lie inside the tiny run, its corpus,
the cache (IMG2SONG_CACHE, and the repository's build/ cache of compiled kernels and exported runtimes), a temp
folder or a path the case itself named on its command line; code and library files are read
from the interpreter's and the repository's folders (read-only: a write there is a violation too).
Generation is seeded (random.Random), so every run tries the same cases.
"""
from __future__ import annotations

import io
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from PIL import Image

import tests.serve_main  # noqa: F401  (registers the tiny backbone "test-serve-stats")
from evaluation.app import cli
from evaluation.app.cli import main
from tests.conftest import own_cache

REPO = Path(__file__).resolve().parents[1]
SEED = 22
N_CLI = 1000  # generated command lines through main()
N_CORPUS = 60  # corpora with escaping path fields, each through build-graph and features
N_HTTP = 320  # requests to the service
MEMORY_HEADROOM = 6 * 2**30  # RLIMIT_DATA while cases run: the worker's data now plus this; a case that would eat
# the machine gets a MemoryError. Relative, not absolute: an xdist worker that ran torch-heavy test files first already
# holds gigabytes of data (a fixed 6 GiB cap once turned an ordinary refusal into 'out of memory', session 12)
TRACE = os.environ.get("IMG2SONG_FUZZ_TRACE")  # a file: each case's argv is appended before it runs (debugging)
CASE_CPU_SECONDS = 1.5  # a case that has used this much CPU is interrupted (SIGPROF) and counted as over the bound
CASE_WALL_SECONDS = 10  # ... or that has waited this long (SIGALRM: a blocked open, a sleep)


# --- the open audit --------------------------------------------------------------------------------------------
class Audit:
    """Every path opened while `active`, checked against the allowed roots and the case's own arguments."""

    def __init__(self) -> None:
        self.active = False
        self.roots: list[str] = []
        self.code_roots = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                                 str(REPO), "/usr/lib", "/usr/share", "/proc", "/sys",
                                                                 "/dev/null", "/dev/urandom", "/etc/localtime")})
        self.named: list[str] = []
        self.violations: list[str] = []
        self.opens = 0
        self._lock = threading.Lock()

    def hook(self, event: str, args: tuple) -> None:
        if not self.active or event not in ("open", "os.open"):
            return
        path = args[0] if args else None
        if isinstance(path, int) or path is None:
            return  # an fd: opened before, by path
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        real = os.path.realpath(os.fsdecode(path))
        with self._lock:
            self.opens += 1
            if self._inside(real, self.roots) or self._inside(real, self.named) or real == "/dev/null":
                return
            if not writes and self._inside(real, self.code_roots):
                return
            self.violations.append(f"{'write' if writes else 'read'} {real}")

    @staticmethod
    def _inside(real: str, roots: list[str]) -> bool:
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)

    def name(self, values: list[str]) -> None:
        """What a case named on its command line (as given and resolved): a user may point a command anywhere."""
        self.named = sorted({os.path.realpath(v) for v in values if v and ("/" in v or os.path.exists(v))}
                            | {os.path.abspath(v) for v in values if v and "/" in v})


AUDIT = Audit()
sys.addaudithook(AUDIT.hook)  # permanent for the process, inert unless a fuzz test turns it on


# --- the tiny prepared world -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory, dictionary_cache):
    """A tiny complete run (make_run + fitted scorers + an evaluation) and a zoo of hostile paths beside it."""
    import torch._dynamo  # noqa: F401  (imported whole now: a case interrupted mid-import would leave it half-made)

    from evaluation.stages.fitted import load_or_fit
    from evaluation.stages.protocol import evaluate_run
    from tests.scorer_contract import make_run

    root = tmp_path_factory.mktemp("fuzzworld")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMG2SONG_CACHE", str(own_cache(root / "cache", dictionary_cache)))
        run = make_run(root)
        for name in ("pop", "km", "ne"):
            load_or_fit(run, name)
        evaluate_run(run, scorers=("pop", "km"), k=3, n_boot=20, progress=False, protocols=("photo",))
    zoo = root / "zoo"
    zoo.mkdir()
    outside = tmp_path_factory.mktemp("outside")  # a folder nothing may read unless a case names it
    (outside / "secret.txt").write_text("secret\n")
    os.symlink(run / "split.json", zoo / "link-inside")
    os.symlink(outside / "secret.txt", zoo / "link-outside")
    os.symlink(zoo / "nowhere", zoo / "link-dangling")
    os.symlink(zoo / "link-loop", zoo / "link-loop")
    os.mkfifo(zoo / "fifo")
    (zoo / "empty").write_bytes(b"")
    (zoo / "bad-utf8.json").write_bytes(b'{"a": "\xff\xfe"}')
    (zoo / "nan.json").write_text('{"k": NaN}')
    (zoo / "dir").mkdir()
    (zoo / "png").write_bytes(_png(20, 10))
    (zoo / "thin.png").write_bytes(_png(3000, 1))
    return {"root": root, "run": run, "corpus": root / "corpus", "zoo": zoo, "outside": outside}


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


def _paths(w: dict) -> list[str]:
    run, corpus, zoo = str(w["run"]), str(w["corpus"]), w["zoo"]
    return [run, corpus, f"{run}/", "run", "corpus", "../corpus", f"{corpus}/images/i1.png",
            str(zoo / "link-inside"), str(zoo / "link-outside"), str(zoo / "link-dangling"), str(zoo / "link-loop"),
            str(zoo / "fifo"), str(zoo / "empty"), str(zoo / "bad-utf8.json"), str(zoo / "nan.json"),
            str(zoo / "dir"), str(zoo / "png"), str(zoo / "thin.png"), str(zoo / "new-out"),
            str(w["outside"]), "/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/etc/passwd", "/",
            "/proc/self/environ", "../" * 12 + "etc/passwd", "", " ", "-", "\udcff\udcfe", "x" * 300,
            f"{run}/../{Path(run).name}", f"{corpus}/images/../../corpus/songs.jsonl", f"{run}/network.npz",
            f"{run}/embeddings.npz", f"{run}/scorers/pop", f"{corpus}/related_words.tsv.gz"]


NUMBERS = ["0", "-1", "1", "2", "3", "0.5", "-0.5", "1e9", "1e308", "-1e308", "nan", "NaN", "inf", "-inf",
           "9" * 40, "0x10", "1_000", "abc", "", "1e-320", "65536", "99999", "2147483648", "0.2", "7"]
WORDS = ["ne", "pop", "km", "ne+", "lstm", "zs", "fused", "nonexistent", "月", "moon", "cpu", "cuda", "cuda:7",
         "auto", "eager", "onnxruntime", "word2vec", "npz", "projector", "mrl", "mse", "count", "tfidf", "debug",
         "bogus", "127.0.0.1", "0.0.0.0", "::1", "http://127.0.0.1:1", "efficientnet-lite0", "vgg19", "line",
         "both", "first", "second", "fp16", "bf16", "-", "--", "../../etc", "\udcff", "a" * 5000, "😀", "q1", "i1",
         "a,b,,c", "ne,ne", " ", "\t", "--help"]
PATHY = ("run", "corpus", "out", "graph", "edgelist", "embeddings", "weights", "word_vectors", "conceptnet_db",
         "config", "json", "images", "reference_graph")
SKIP = {("report", "--screenshot")}  # launches Chromium: tests/test_html_browser.py covers it
# commands whose first use on a corpus builds the ConceptNet-derived thesauri (about 50 s of CPU, then cached:
# tests/test_thesauri.py): here they get only the hostile values of --corpus, never the valid corpus
NO_VALID_CORPUS = ("related", "bridge")


def _commands() -> dict[str, object]:
    cli._register_all()
    group = typer.main.get_command(cli.app)
    out: dict[str, object] = {}

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if subs:
            for n, c in subs.items():
                walk(c, [*prefix, n])
        else:
            out[" ".join(prefix)] = cmd
    walk(group, [])
    return out


def _argv(rng: random.Random, name: str, cmd, w: dict) -> list[str]:
    """A command line for `cmd`: a random subset of its options, each with a value drawn by what it names."""
    paths = _paths(w)
    argv = name.split()
    params = list(cmd.params)
    rng.shuffle(params)
    valid_run = rng.random() < 0.25  # most cases aim at the real run, so they get past the first check
    for p in params:
        opt = p.opts[0]
        if (name, opt) in SKIP:
            continue
        if getattr(p, "is_flag", False):
            if rng.random() < 0.3:
                argv.append(opt)
            continue
        positional = not opt.startswith("-")
        if not positional and rng.random() < 0.45 and not (valid_run and p.name == "run"):
            continue
        pathy = p.name in PATHY
        pool = paths if pathy else NUMBERS if rng.random() < 0.6 and p.name not in ("scorers", "scorer") else WORDS
        n = rng.choice((1, 1, 2)) if positional or getattr(p, "multiple", False) else 1
        for _ in range(n):
            value = (str(w["run"]) if valid_run and p.name == "run" else
                     str(w["corpus"]) if valid_run and p.name == "corpus" and name not in NO_VALID_CORPUS
                     else rng.choice([v for v in pool if name not in NO_VALID_CORPUS or p.name != "corpus"
                                      or "corpus" not in v]))
            argv += [value] if positional else [opt, value]
    return argv


class _OverTime(BaseException):
    """The per-case bound: raised by SIGALRM in the main thread (not an Exception: main() lets it through)."""


def _bounded(fn, cpu_seconds: float, wall_seconds: float):
    def alarm(signum, frame):
        raise _OverTime()
    old = signal.signal(signal.SIGALRM, alarm), signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old[0])
        signal.signal(signal.SIGPROF, old[1])


@pytest.fixture
def quiet_world(world, monkeypatch, tmp_path):
    """Cases run in a scratch folder (relative defaults land there), with the audit's roots set; a valid `serve`
    loads everything and returns instead of blocking; `report --open` opens no browser."""
    import webbrowser

    import uvicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMG2SONG_CACHE", str(world["root"] / "cache"))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: None)
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: True)
    AUDIT.roots = sorted({os.path.realpath(p) for p in (world["root"], tmp_path, tempfile.gettempdir(),
                                                        os.environ.get("TMPDIR", "/tmp"), REPO / "build")})
    AUDIT.violations = []
    limit = resource.getrlimit(resource.RLIMIT_DATA)
    bound = data_bytes() + MEMORY_HEADROOM
    if limit[1] != resource.RLIM_INFINITY:
        bound = min(bound, limit[1])
    resource.setrlimit(resource.RLIMIT_DATA, (bound, limit[1]))  # a runaway allocation is a MemoryError
    try:
        yield world
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, limit)
        AUDIT.active = False


def data_bytes() -> int:
    """This process's data segment now (VmData, what RLIMIT_DATA bounds)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def _one_case(argv: list[str], capsys) -> tuple[str, str]:
    """(outcome, detail) of one command line through main(), with the audit on."""
    if TRACE:
        with open(TRACE, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(repr(argv) + "\n")
    AUDIT.name(argv)
    before = len(AUDIT.violations)
    AUDIT.active = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = _bounded(lambda: main(argv), CASE_CPU_SECONDS, CASE_WALL_SECONDS)
    except _OverTime:
        code = "over-time"
    finally:
        AUDIT.active = False
    out, err = capsys.readouterr()
    if "Traceback" in out + err:
        return "traceback", err[-600:]
    if len(AUDIT.violations) > before:
        return "open-outside", "; ".join(AUDIT.violations[before:before + 3])
    if code == "over-time":
        return "over-time", ""
    if code not in (0, 2, 3, 130):
        return f"exit-{code}", err[-400:]
    return f"exit-{code}", ""


def test_fuzz_every_cli_command_through_main(quiet_world, capsys, fuzz_counts):
    w = quiet_world
    commands = _commands()
    rng = random.Random(SEED)
    names = sorted(commands)
    per: dict[str, Counter] = {n: Counter() for n in names}
    bad: list[str] = []
    t0, cpu0 = time.monotonic(), time.process_time()
    for i in range(N_CLI):
        name = names[i % len(names)] if i < 3 * len(names) else rng.choice(names)  # every command, then at random
        argv = _argv(rng, name, commands[name], w)
        outcome, detail = _one_case(argv, capsys)
        per[name][outcome] += 1
        if outcome in ("traceback", "open-outside") or outcome.startswith("exit-") and detail:
            bad.append(f"{argv!r}: {outcome}: {detail}")
    for name, c in per.items():  # added to test_fuzz.py's counts of the same command, not written over them
        mine = fuzz_counts.setdefault(f"cli {name}", {})
        for outcome, n in c.items():
            mine[outcome] = mine.get(outcome, 0) + n
    total = sum(sum(c.values()) for c in per.values())
    print(f"\nCLI fuzz: {total} cases in {time.monotonic() - t0:.1f} s ({time.process_time() - cpu0:.1f} s CPU)")
    assert total == N_CLI and all(sum(per[n].values()) >= 3 for n in names), per
    assert not bad, "\n".join(bad[:10])
    over = sum(c["over-time"] for c in per.values())
    assert over <= N_CLI // 25, {n: c["over-time"] for n, c in per.items() if c["over-time"]}
    assert sum(c["exit-0"] for c in per.values()) >= 10  # the valid run lets real work happen, not only refusals


# --- the HTTP service -------------------------------------------------------------------------------------------
def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "fuzzBoundary7") -> tuple[bytes, str]:
    body = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += (f"--{boundary}\r\nContent-Disposition: {disp}\r\n"
                 + ("Content-Type: application/octet-stream\r\n" if filename is not None else "")
                 + "\r\n").encode("utf-8", "surrogateescape") + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _images() -> list[bytes]:
    from tests.test_serve import png_header_only

    exif = Image.Exif()
    exif[0x0112] = 8
    jpg = io.BytesIO()
    Image.new("RGB", (30, 20), (9, 9, 200)).save(jpg, "JPEG", exif=exif)
    gif = io.BytesIO()
    Image.new("P", (5, 5)).save(gif, "GIF")
    good = _png(32, 24)
    return [good, good, good, _png(64, 48), good[: len(good) // 2], b"", b"not an image", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n",
            png_header_only(100_000, 100_000), png_header_only(60, 60), _png(3000, 1), _png(1, 2000), jpg.getvalue(),
            gif.getvalue(), b"\x89PNG\r\n\x1a\n" + os.urandom(64), b"GIF89a" + b"\xff" * 40, b"BM" + b"\x00" * 60]


def _http_cases(rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    """(entry point, raw request bytes) for n requests."""
    images, out = _images(), []
    ids = ["q1", "i1", "s1", "../../etc/passwd", "%2e%2e%2fetc%2fpasswd", "%00", "%ff%fe", "a" * 3000, "月",
           "%E6%9C%88", "/", "a/b/c", "..", "%", "s1?x=1", "s1#frag"]
    for _ in range(n):
        kind = rng.choice(["recommend upload", "recommend upload", "recommend query", "batch", "song", "fixed",
                           "headers", "framing", "method"])
        k = rng.choice(NUMBERS + ["5"])
        scorer = rng.choice(["ne", "km", "pop", "", "nonexistent", "../ne", "\u202e", "x" * 500])
        target, headers, body = "/", {}, b""
        if kind in ("recommend upload", "batch"):
            parts = [("image", rng.choice(["p.png", "../../../etc/passwd", "/etc/shadow", "", "月.jpg",
                                           "a\udcffb.png", "x" * 400]), rng.choice(images))
                     for _ in range(rng.choice((1, 1, 2, 3)) if kind == "batch" else 1)]
            parts += [(f, None, v.encode("utf-8", "surrogateescape")) for f, v in
                      (("k", k), ("scorer", scorer), ("image_id", rng.choice(ids))) if rng.random() < 0.25]
            if rng.random() < 0.1:
                parts.append(("x" * 2000, None, b"v"))
            body, ctype = _multipart(parts)
            if rng.random() < 0.1:
                ctype = rng.choice(["multipart/form-data", "multipart/form-data; boundary=", "text/plain",
                                    "multipart/form-data; boundary=other", "application/json"])
            headers["Content-Type"] = ctype
            target = "/recommend" if kind == "recommend upload" else "/recommend/batch"
        elif kind == "recommend query":
            q = "&".join(f"{f}={v}" for f, v in (("image_id", rng.choice(ids)), ("k", k), ("scorer", scorer))
                         if rng.random() < 0.7)
            target = "/recommend?" + q.replace(" ", "%20").replace("\r", "").replace("\n", "")
            body = b""
        elif kind == "song":
            target = "/songs/" + rng.choice(ids)
        elif kind == "fixed":
            target = rng.choice(["/healthz", "/metrics", "/docs", "/openapi.json", "/", "/nope", "/songs/",
                                 "/recommend/batch?image_id=q1&image_id=q2&k=3", "//healthz", "/healthz?" + "a=1&" * 300])
        elif kind == "headers":
            target = "/healthz"
            headers[rng.choice(["X-Big", "Host", "Accept", "Content-Type", "X-\u00e9"])] = rng.choice(
                ["a" * 20000, "\u00e9\u00e8", "", "x" * 100, "multipart/form-data; boundary=" + "b" * 300])
        elif kind == "framing":
            target = "/recommend"
            body = rng.choice([b"abc", b"--b\r\n", b""])
            headers["Content-Length"] = rng.choice(["-1", "abc", str(len(body)), "99999999999999999999",
                                                    str(len(body) + 5)])
            headers["Content-Type"] = "multipart/form-data; boundary=b"
        else:
            target = rng.choice(["/healthz", "/recommend", "/songs/s1"])
        method = ("POST" if kind in ("recommend upload", "batch", "recommend query", "framing") else
                  rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"]) if kind == "method" else "GET")
        if kind != "framing":
            headers["Content-Length"] = str(len(body))
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + "".join(
            f"{h}: {v}\r\n" for h, v in headers.items()) + "\r\n"
        out.append((kind, head.encode("utf-8", "surrogateescape") + body))
    return out


def _send(host: str, port: int, raw: bytes, timeout: float = 30.0) -> int:
    """The status of the answer to one raw request (0: the connection closed without one)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass  # the server may answer (413, 400) and close before the whole body is sent
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


def test_fuzz_the_http_service_on_loopback(world, tmp_path, fuzz_counts):
    """N_HTTP requests from 4 concurrent clients to a real server (tests/fuzz_serve_main: the open audit inside)."""
    from evaluation.bench.client import start_server, stop_server
    from evaluation.stages import pipeline
    from tests.serve_main import BACKBONE

    run = world["run"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMG2SONG_CACHE", str(world["root"] / "cache"))
        pipeline.features(run, backbone=BACKBONE, echo=lambda _: None)  # the server's backbone encodes uploads
        violations = tmp_path / "violations.txt"
        mp.setenv("IMG2SONG_FUZZ_VIOLATIONS", str(violations))
        mp.setenv("IMG2SONG_FUZZ_ROOTS", os.pathsep.join([str(world["root"]), tempfile.gettempdir(),
                                                          str(REPO / "build")]))
        proc, url = start_server(run, ["--max-pixels", "5000000", "--deadline", "4", "--idle-timeout", "4",
                                       "--queue", "64", "--scorers", "ne,km,pop"],
                                 module="tests.fuzz_serve_main", log=tmp_path / "server.log")
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    cases = _http_cases(random.Random(SEED), N_HTTP)
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(4) as pool:  # concurrent clients
            statuses = list(pool.map(lambda c: _send(host, port, c[1]), cases))
        alive = _send(host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        code = stop_server(proc)
    per: dict[str, Counter] = {}
    for (kind, _), status in zip(cases, statuses):
        per.setdefault(kind, Counter())[str(status)] += 1
    for kind, c in per.items():
        fuzz_counts[f"http {kind}"] = dict(c)
    print(f"\nHTTP fuzz: {len(statuses)} requests in {time.monotonic() - t0:.1f} s: "
          + "; ".join(f"{k} {dict(v)}" for k, v in sorted(per.items())))
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert len(statuses) == N_HTTP and len(per) >= 8, per
    assert alive == 200 and code in (0, -15), log[-2000:]
    five = [(c[1][:200], s) for c, s in zip(cases, statuses) if s >= 500]
    assert not five, five[:5]
    silent = [c[1][:200] for c, s in zip(cases, statuses) if s == 0 and c[0] != "framing"]
    assert not silent, silent[:5]  # every well-framed request gets an answer
    assert "Traceback" not in log, log[-3000:]
    assert sum(1 for s in statuses if s == 200) >= 30  # real answers, not only refusals
    assert not violations.exists() or not violations.read_text().strip(), violations.read_text()[:2000]
