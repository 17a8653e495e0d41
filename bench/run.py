#!/usr/bin/env python3
"""make bench: restd against references measured in the same run.

Every server is pinned to CPU 0 and wrk to CPU 1 (taskset); every figure is
the median of 3 measured runs after a warm-up; ratios compare figures from
this run only. QUICK=1 shortens every run (the whole thing in under 3 min).
Writes bench/results/latest.md and bench/results/latest.png."""
import base64
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("BENCH_BUILD", "build-bench"))
QUICK = os.environ.get("QUICK") == "1"
WARM, RUN, REPEAT = (1, 2, 3) if QUICK else (2, 5, 3)
ROUNDS = 3 if QUICK else 5   # interleaved rounds of R1, R2, S1, S6
CONNS = 64
RECORDS = 100_000
SERVER_CPU, CLIENT_CPU = "0", "1"
RESULTS = os.path.join(ROOT, "bench", "results")
LUA = os.path.join(ROOT, "bench", "lua")

# 10,000 client sockets here and as many in the server (which inherits this).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=30):
    t = time.time()
    while time.time() - t < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd, env=None, cwd=None):
    return subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})), cwd=cwd)


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wrk(url, script, env, conns=CONNS, duration=None, extra=()):
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{duration or RUN}s", "--latency",
           "-s", os.path.join(LUA, script)] + list(extra) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **env), timeout=120).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk on {url} failed: {out[-300:]}")
    rps = float(m.group(1))
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"\s{q}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
            lat[q] = v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0, out


def measure(name, url, script, env, conns=CONNS):
    wrk(url, script, env, conns, duration=WARM)
    runs = [wrk(url, script, env, conns) for _ in range(REPEAT)]
    rps = statistics.median(r[0] for r in runs)
    bad = sum(r[2] for r in runs)
    log(f"  {name:<28} {rps:>12,.0f} req/s" + (f"   ({bad} non-2xx replies!)" if bad else ""))
    return rps, bad


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="restd-bench-")
    restd = os.path.join(BUILD, "restd")
    figures, notes = {}, []
    procs = []
    try:
        # ---------------------------------------------------------------- restd
        db = os.path.join(tmp, "restd.db")
        log(f"loading {RECORDS:,} records ...")
        p, port, cfg, token = start_loaded_restd(tmp, restd, "restd", f'url = "sqlite:{db}"', procs)
        auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        ids = [r[0] for r in sqlite3.connect(db).execute('SELECT id FROM "things"')]
        ids_file = os.path.join(tmp, "ids")
        open(ids_file, "w").write("\n".join(ids[::10]) + "\n")
        pages = os.path.join(tmp, "pages")
        open(pages, "w").write("\n".join(f"/api/v2/things?per_page=20&page={n}" for n in range(1, RECORDS // 20, 7)) + "\n")
        cursors = os.path.join(tmp, "cursors")
        with open(cursors, "w") as f:
            for i in ids[RECORDS // 2::97]:   # deep: the second half of the collection
                c = base64.urlsafe_b64encode(json.dumps(["", i], separators=(",", ":")).encode()).decode().rstrip("=")
                f.write(f"/api/v2/things?per_page=20&cursor={c}\n")
        s1_env = {"IDS": ids_file, "PREFIX": "/api/v2/things/", "TOKEN": token}
        base = f"http://127.0.0.1:{port}"
        st, s1_body = request(port, "GET", "/api/v2/things/" + ids[5], headers=auth)

        body_file = _write(tmp, "s1.json", s1_body.decode())
        get_one_rounds(tmp, db, base, s1_env, body_file, figures, procs)
        feature_costs(tmp, restd, cfg, s1_env, figures, procs)

        log("restd:")
        figures["S2"] = measure("S2 GET page N + count", base, "get_paths.lua", {"PATHS": pages, "TOKEN": token})[0]
        figures["S3"] = measure("S3 cursor, deep", base, "get_paths.lua", {"PATHS": cursors, "TOKEN": token})[0]
        first_pages(tmp, port, base, token, s1_env, figures)
        one = os.path.join(tmp, "one.json")
        open(one, "w").write(json.dumps({"name": "posted", "price": 1.5, "tags": ["a"]}))
        figures["S4"] = measure("S4 POST one (durable)", base, "post.lua",
                                {"BODY_FILE": one, "PATH_": "/api/v2/things", "TOKEN": token})[0]
        # S5 and R5's bulk insert interleaved, round by round: both swing
        # with the disk by half within minutes.
        log("interleaved rounds (S5, R5 bulk):")
        batch_rounds(tmp, base, token, figures)
        figures["S5"] = statistics.median(figures["batch rounds"]["S5"])
        # R5 right after S4, whose target it sets (the disk drifts too).
        # R5: raw SQLite, Google Benchmark
        out = subprocess.run(["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "bench_sqlite"), "--benchmark_format=json"]
                             + (["--benchmark_min_time=0.2"] if QUICK else []),
                             capture_output=True, text=True, timeout=600).stdout
        for b in json.loads(out)["benchmarks"]:
            figures["R5_" + b["name"].split("/")[0].replace("BM_", "")] = b["items_per_second"]
        log(f"  R5 SQLite: lookups {figures['R5_PointLookup']:,.0f}/s, fsync-per-insert "
            f"{figures['R5_InsertFsyncEach']:,.0f}/s, bulk {figures['R5_BulkInsert1000']:,.0f} rows/s")
        # S8: p50/p99 at half of S1's peak, paced
        figures["S8_rate"], figures["S8_actual"], lat = paced_latency(base, s1_env, figures["S1"] / 2)
        figures["S8_p50_ms"], figures["S8_p99_ms"] = lat.get("50", 0), lat.get("99", 0)
        log(f"  S8 at {figures['S8_actual']:,.0f} req/s (asked {figures['S8_rate']:,.0f}): "
            f"p50 {figures['S8_p50_ms']:.3f} ms, p99 {figures['S8_p99_ms']:.3f} ms")
        stop(p)
        procs.remove(p)
        # S7: memory idle with the data, then with 10,000 idle keep-alive connections
        # (all from 127.0.0.1: the config lifts the per-client cap, which would
        # otherwise refuse all but 256 of them)
        p = start([restd, "serve", "--config", cfg])
        procs.append(p)
        wait_port(port)
        time.sleep(1)
        idle = rss_kb(p.pid)
        socks = []
        for _ in range(10_000):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.recv(4096)
        time.sleep(1)
        loaded = rss_kb(p.pid)
        for s in socks:
            s.close()
        figures["S7_idle_MB"] = idle / 1024
        figures["S7_10k_MB"] = (loaded - idle) / 1024
        log(f"  S7 RSS idle {figures['S7_idle_MB']:.1f} MB; 10,000 idle connections add {figures['S7_10k_MB']:.1f} MB")
        stop(p)
        procs.remove(p)

        # ---------------------------------------------------------------- references
        log("references:")
        # R3: nginx, one worker, the S1 reply as a static file
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        shutil.copy(body_file, os.path.join(www, "thing.json"))
        nport = free_port()
        nconf = _write(tmp, "nginx.conf", f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 100000000;
  server {{ listen 127.0.0.1:{nport}; root {www};
    location / {{ default_type application/json; try_files /thing.json =404; }} }} }}
""")
        # nginx's workers drop root: they must be able to read the file (mkdtemp is 0700).
        os.chmod(tmp, 0o755)
        os.chmod(www, 0o755)
        p = start(["nginx", "-c", nconf, "-p", tmp])
        procs.append(p)
        wait_port(nport)
        figures["R3"] = measure("R3 nginx static file", f"http://127.0.0.1:{nport}", "get_ids.lua", s1_env)[0]
        stop(p)
        procs.remove(p)
        # R4: json-server 0.17 with the same 100,000 records
        js = _json_server()
        if js:
            jdb = os.path.join(tmp, "db.json")
            with open(jdb, "w") as f:
                json.dump({"things": [{"id": i, "name": f"thing {i}", "price": i % 997 / 10, "tags": ["bench", "x"]}
                                      for i in range(RECORDS)]}, f)
            jport = free_port()
            p = start(["node", js, "--port", str(jport), "--quiet", jdb])
            procs.append(p)
            wait_port(jport, timeout=120)
            jids = _write(tmp, "jids", "\n".join(str(i) for i in range(0, RECORDS, 10)) + "\n")
            jpages = _write(tmp, "jpages", "\n".join(f"/things?_page={n}&_limit=20" for n in range(1, RECORDS // 20, 7)) + "\n")
            jurl = f"http://127.0.0.1:{jport}"
            figures["R4_S1"] = measure("R4 json-server GET one", jurl, "get_ids.lua", {"IDS": jids, "PREFIX": "/things/"})[0]
            figures["R4_S2"] = measure("R4 json-server GET page", jurl, "get_paths.lua", {"PATHS": jpages})[0]
            figures["R4_S4"] = measure("R4 json-server POST one", jurl, "post.lua", {"BODY_FILE": one, "PATH_": "/things"},
                                       conns=8)[0]
            stop(p)
            procs.remove(p)
        else:
            notes.append("json-server could not be installed from npm: R4 was not measured.")
        log("change feed:")
        events_bench(tmp, restd, figures, procs)
        transfer_bench(tmp, figures, procs)
        if os.environ.get("BENCH_PG", "1") != "0":
            postgres(tmp, restd, figures, notes, procs)
        micro = subprocess.run([os.path.join(BUILD, "bench_hot_paths"), "--benchmark_format=json"]
                               + (["--benchmark_min_time=0.05"] if QUICK else ["--benchmark_min_time=0.2"]),
                               capture_output=True, text=True, timeout=600).stdout
        micro = [(b["name"], b["cpu_time"], b["time_unit"]) for b in json.loads(micro)["benchmarks"]]
        report(figures, micro, notes)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def get_one_rounds(tmp, db, base, s1_env, body_file, figures, procs):
    """S1 and S6 on the restd at `base`, and their references R1 (the S1 reply's
    bytes from memory) and R2 (one SQLite lookup in `db`), interleaved round by
    round; sets their medians, the per-round ratios' medians and the rounds."""
    ref = os.path.join(BUILD, "ref_server")
    # S1, S6 and their references R1, R2 run interleaved, round by round,
    # with all three servers up (pinned to the same core, one loaded at a
    # time): this VM's speed drifts by a third within minutes, and a ratio
    # taken within one round is what the targets compare.
    r1port, r2port = free_port(), free_port()
    r1 = start([ref, "static", str(r1port), body_file])
    r2 = start([ref, "sqlite", str(r2port), db])
    procs += [r1, r2]
    wait_port(r1port)
    wait_port(r2port)
    health = _write(tmp, "health", "/healthz\n")
    pairs = {"R1": (f"http://127.0.0.1:{r1port}", "get_ids.lua", s1_env),
             "R2": (f"http://127.0.0.1:{r2port}", "get_ids.lua", s1_env),
             "S1": (base, "get_ids.lua", s1_env),
             "S6": (base, "get_paths.lua", {"PATHS": health})}
    log(f"interleaved rounds (R1, R2, S1, S6) x {ROUNDS}:")
    for name, (url, script, env_) in pairs.items():
        wrk(url, script, env_, duration=WARM)
    rounds = {name: [] for name in pairs}
    for n in range(ROUNDS):
        for name, (url, script, env_) in pairs.items():
            rps, _, bad, _ = wrk(url, script, env_)
            assert bad == 0, f"{name}: {bad} non-2xx replies"
            rounds[name].append(rps)
        log("  round %d: %s" % (n + 1, ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rounds.items())))
    for name, values in rounds.items():
        figures[name] = statistics.median(values)
    for label, a, b in (("S1/R2", "S1", "R2"), ("S1/R1", "S1", "R1"), ("S6/R1", "S6", "R1")):
        figures["ratio " + label] = statistics.median(x / y for x, y in zip(rounds[a], rounds[b]))
    figures["rounds"] = rounds
    for p_ in (r1, r2):
        stop(p_)
        procs.remove(p_)


def batch_rounds(tmp, base, token, figures):
    """S5 (1000-record POSTs, 4 connections) and R5's bulk insert, interleaved
    round by round: S5 / R5 per round and their median."""
    thousand = _write(tmp, "thousand.json",
                      json.dumps([{"name": f"bulk {i}", "price": 2, "tags": ["b"]} for i in range(1000)]))
    env_ = {"BODY_FILE": thousand, "PATH_": "/api/v2/things", "TOKEN": token}
    wrk(base, "post.lua", env_, 4, duration=WARM)
    rounds = {"S5": [], "R5": []}
    for n in range(ROUNDS):
        rps, _, bad, _ = wrk(base, "post.lua", env_, 4)
        assert bad == 0, f"S5: {bad} non-2xx replies"
        rounds["S5"].append(rps * 1000)
        out = subprocess.run(["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "bench_sqlite"), "--benchmark_format=json",
                              "--benchmark_filter=BulkInsert"], capture_output=True, text=True, timeout=600).stdout
        rounds["R5"].append(json.loads(out)["benchmarks"][0]["items_per_second"])
        log(f"  round {n + 1}: S5 {rounds['S5'][-1]:,.0f} records/s, R5 bulk {rounds['R5'][-1]:,.0f} rows/s")
    figures["ratio S5/R5 bulk"] = statistics.median(x / y for x, y in zip(rounds["S5"], rounds["R5"]))
    figures["batch rounds"] = rounds


def feature_costs(tmp, restd, cfg, s1_env, figures, procs):
    """S1 (GET one, Bearer token) on three restd processes sharing one SQLite
    file, interleaved round by round: without rate limiting and metrics, with
    rate limiting on (a limit no request reaches: every request still spends
    a token and gets the five headers), and with /metrics counting on."""
    text = open(cfg).read()
    servers = {}
    for name, rpm, metrics in (("plain", 0, "false"), ("limited", 100_000_000, "false"), ("metrics", 0, "true")):
        port = free_port()
        variant = re.sub(r'listen = "127.0.0.1:\d+"', f'listen = "127.0.0.1:{port}"', text)
        variant = variant.replace("requests_per_minute = 0", f"requests_per_minute = {rpm}")
        variant = variant.replace("threads = 1\n", f"threads = 1\nmetrics = {metrics}\n")
        path = _write(tmp, f"cost-{name}.toml", variant)
        p = start([restd, "serve", "--config", path])
        procs.append(p)
        wait_port(port)
        servers[name] = (p, f"http://127.0.0.1:{port}")
    for name, (_, url) in servers.items():
        wrk(url, "get_ids.lua", s1_env, duration=WARM)
    rounds = {name: [] for name in servers}
    log(f"feature costs (plain, rate limit on, metrics on) x {ROUNDS}:")
    for n in range(ROUNDS):
        for name, (_, url) in servers.items():
            rps, _, bad, _ = wrk(url, "get_ids.lua", s1_env)
            assert bad == 0, f"{name}: {bad} non-2xx replies"
            rounds[name].append(rps)
        log("  round %d: %s" % (n + 1, ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rounds.items())))
    for label, variant in (("ratelimit", "limited"), ("metrics", "metrics")):
        ratios = [x / y for x, y in zip(rounds[variant], rounds["plain"])]
        figures[f"ratio S1 {label} on/off"] = statistics.median(ratios)
        figures[f"spread S1 {label} on/off"] = (min(ratios), max(ratios))
    figures["cost rounds"] = rounds
    for p, _ in servers.values():
        stop(p)
        procs.remove(p)


def serve_with_admin(restd, cfg, port, procs):
    """Adds an admin `bench` and an API key to `cfg`'s database, starts restd
    on it (pinned, appended to `procs`) and signs in. Returns (process, token)."""
    subprocess.run([restd, "user", "add", "bench", "--role", "admin", "--config", cfg],   # may exist already
                   env=dict(os.environ, RESTD_PASSWORD="bench"), capture_output=True)
    key = subprocess.run([restd, "apikey", "create", "--name", "bench", "--config", cfg], check=True,
                         capture_output=True, text=True).stdout.strip()
    p = start([restd, "serve", "--config", cfg])
    procs.append(p)
    wait_port(port)
    st, body = request(port, "POST", "/api/v2/authenticate", f"userName=bench&apiKey={key}&password=bench",
                       {"Content-Type": "application/x-www-form-urlencoded"})
    return p, json.loads(body)["data"]["access_token"]


def events_bench(tmp, restd, figures, procs, subscribers=1000, rate=500, seconds=10):
    """E1: `subscribers` change-feed streams and a steady `rate` of durable
    single POSTs; delivery latency from each POST's reply to each stream
    receiving its event, and the RSS an idle stream costs."""
    port = free_port()
    cfg = _write(tmp, "events.toml", f"""[server]
listen = "127.0.0.1:{port}"
threads = 1
access_log = "off"
max_in_flight = 100000
max_connections_per_client = 0
[storage]
url = "sqlite:{os.path.join(tmp, 'events.db')}"
durability = "full"
[rate_limit]
requests_per_minute = 0
[events]
max_subscribers = {subscribers + 100}
[collections.things.fields]
name = {{ type = "string", required = true }}
""")
    p, token = serve_with_admin(restd, cfg, port, procs)
    time.sleep(0.5)
    before = rss_kb(p.pid)
    client = subprocess.Popen(["taskset", "-c", CLIENT_CPU, os.path.join(BUILD, "sse_client"), str(port), token,
                               str(subscribers), str(rate), str(seconds), "3"],
                              stdout=subprocess.PIPE, text=True)
    line = client.stdout.readline()
    assert line.startswith("connected"), line
    time.sleep(1.5)
    idle = rss_kb(p.pid)
    out = json.loads(client.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1])
    figures["E1_kib_per_subscriber"] = (idle - before) / subscribers
    figures["E1"] = out
    log(f"  E1 {subscribers} subscribers, {rate} writes/s: p50 {out['p50_ms']:.2f} ms, p99 {out['p99_ms']:.2f} ms "
        f"(from the send: p50 {out['p50_from_send_ms']:.2f} ms, p99 {out['p99_from_send_ms']:.2f} ms), "
        f"{out['deliveries']:,} of {out['expected']:,} delivered; idle stream {figures['E1_kib_per_subscriber']:.1f} KiB")
    stop(p)
    procs.remove(p)


def first_pages(tmp, port, base, token, s1_env, figures):
    """S2b/S2c: the first page of a filtered list sorted on an indexed field,
    with and without its total, over RECORDS listings (a third of them
    "live"), interleaved round by round with S1 (the targets' reference)."""
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    states = ("live", "draft", "sold")
    for b in range(RECORDS // 1000):
        items = [{"name": f"listing {b * 1000 + i}", "state": states[(b * 1000 + i) % 3],
                  "price": (b * 7919 + i * 104729) % 100000 / 100} for i in range(1000)]
        st, _ = request(port, "POST", "/api/v2/listings", json.dumps(items), auth)
        assert st == 201, st
    q = "/api/v2/listings?state=live&sort=-price&per_page=20"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", q, headers=auth)
    r = c.getresponse()
    page = json.loads(r.read())
    assert r.status == 200 and len(page["data"]) == 20, (r.status, page)
    assert int(r.getheader("X-Total-Count")) == (RECORDS + 2) // 3, r.getheader("X-Total-Count")
    c.close()
    pairs = {"S1": ("get_ids.lua", s1_env),
             "S2b": ("get_paths.lua", {"PATHS": _write(tmp, "s2b", q + "\n"), "TOKEN": token}),
             "S2c": ("get_paths.lua", {"PATHS": _write(tmp, "s2c", q + "&count=false\n"), "TOKEN": token})}
    for script, env_ in pairs.values():
        wrk(base, script, env_, duration=WARM)
    rounds = {k: [] for k in pairs}
    for n in range(ROUNDS):
        for k, (script, env_) in pairs.items():
            rps, _, bad, _ = wrk(base, script, env_)
            assert bad == 0, f"{k}: {bad} non-2xx replies"
            rounds[k].append(rps)
        log("  round %d: %s" % (n + 1, ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rounds.items())))
    for k in ("S2b", "S2c"):
        figures[k] = statistics.median(rounds[k])
        figures[f"ratio {k}/S1"] = statistics.median(x / y for x, y in zip(rounds[k], rounds["S1"]))
    figures["first_page_rounds"] = rounds


# The bench's collections: `things` (S1-S5) and `listings` (S2b/S2c).
COLLECTIONS = """[collections.things.fields]
name  = { type = "string", required = true }
price = { type = "number", min = 0 }
tags  = { type = "array" }
[collections.listings.fields]
name  = { type = "string", required = true }
state = { type = "string", index = true }
price = { type = "number", min = 0, index = true }
"""


def paced_latency(base, env, rate, conns=16):
    """Latency at `rate` requests/s over `conns` connections (paced.lua).
    Each connection waits GAP_MS after each reply, so its rate also depends
    on the latency: the gap is found by bisection over short runs (the
    rate falls as the gap grows), between no gap and the gap that would
    give `rate` with no latency at all. Returns (asked rate, measured rate,
    latency percentiles)."""
    lo, hi = 0.0, 1000 * conns / rate
    for _ in range(6):
        mid = (lo + hi) / 2
        got = wrk(base, "paced.lua", dict(env, GAP_MS=str(mid)), conns=conns, duration=2)[0]
        if got > rate:
            lo = mid
        else:
            hi = mid
    actual, lat, bad, _ = wrk(base, "paced.lua", dict(env, GAP_MS=str((lo + hi) / 2)), conns=conns, duration=RUN * 2)
    assert bad == 0, f"S8: {bad} non-2xx replies"
    return rate, actual, lat


def start_loaded_restd(tmp, restd, name, storage, procs):
    """restd on one core with an admin `bench`, its token, and RECORDS records;
    `storage` is the [storage] section's url (and other) lines. Returns
    (process, port, config path, token)."""
    cfg = os.path.join(tmp, name + ".toml")
    port = free_port()
    with open(cfg, "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:{port}"
threads = 1
access_log = "{os.path.join(tmp, name + '-access.log')}"
max_in_flight = 100000
max_connections_per_client = 0
[storage]
{storage}
durability = "full"
[rate_limit]
requests_per_minute = 0
""" + COLLECTIONS)
    p, token = serve_with_admin(restd, cfg, port, procs)
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    t = time.time()
    for b in range(RECORDS // 1000):
        items = [{"name": f"thing {b * 1000 + i}", "price": (b * 1000 + i) % 997 / 10, "tags": ["bench", "x"]}
                 for i in range(1000)]
        st, _ = request(port, "POST", "/api/v2/things", json.dumps(items), auth)
        assert st == 201, st
    log(f"  loaded in {time.time() - t:.1f} s")
    return p, port, cfg, token


TRANSFER_RECORDS = 200_000 if QUICK else 1_000_000
TRANSFER_FIELDS = """[collections.things.fields]
name  = { type = "string", required = true }
price = { type = "number", min = 0 }
tags  = { type = "array" }
meta  = { type = "object" }
"""


def transfer_config(tmp, name, url):
    """A config for the copy commands on `url`, with an admin `bench` to own imports."""
    cfg = _write(tmp, name + ".toml", f'[storage]\nurl = "{url}"\ndurability = "full"\n' + TRANSFER_FIELDS)
    subprocess.run([os.path.join(BUILD, "restd"), "user", "add", "bench", "--role", "admin", "--config", cfg],
                   env=dict(os.environ, RESTD_PASSWORD="bench"), check=True, capture_output=True)
    return cfg


def timed_cli(args):
    """Seconds one restd command takes, pinned to the server's CPU (it runs alone)."""
    t = time.time()
    subprocess.run(["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "restd"), *args], check=True,
                   capture_output=True, timeout=1800)
    return time.time() - t


def pg_import_bench(tmp, pg_url, figures):
    """`restd import` of TRANSFER_RECORDS records into PostgreSQL against a
    raw 1000-row INSERT of the same shape from one connection (pgbench)."""
    n = TRANSFER_RECORDS
    lines = os.path.join(tmp, "transfer.jsonl")
    if not os.path.exists(lines):
        write_transfer_lines(lines, n)
    cfg = transfer_config(tmp, "import-pg", pg_url)
    pg_imports = []
    for r in range(REPEAT):
        pg_imports.append(n / timed_cli(["import", "things", lines, "--config", cfg]))
        psql(pg_url, 'TRUNCATE "things"; TRUNCATE _restd_events')
    psql(pg_url, 'CREATE TABLE ref_import (LIKE "things" INCLUDING ALL)')
    rows = ",".join(f"('r' || :b || '_{i:04d}', NULL, 1, 1, 1, 'user_x', 'thing {i}', {i % 997 / 10}, "
                    f"'[\"bench\",\"x\"]', NULL, NULL)" for i in range(1000))
    script = _write(tmp, "ref-import.sql", f"\\set b random(1, 2000000000)\nINSERT INTO ref_import VALUES {rows};\n")
    ref = 1000 * pgbench(pg_url, script, 1)
    figures["T_import_pg"] = statistics.median(pg_imports)
    figures["T_import_pg_ref"] = ref
    figures["ratio import/R8_1"] = figures["T_import_pg"] / ref
    log(f"  PostgreSQL import {figures['T_import_pg']:,.0f} records/s "
        f"({', '.join(f'{x:,.0f}' for x in pg_imports)}); raw 1000-row INSERT, one client: {ref:,.0f} rows/s")



def write_transfer_lines(path, n, pad=None):
    with open(path, "w") as f:
        for i in range(n):
            r = {"name": f"thing {i}", "price": i % 997 / 10, "tags": ["bench", "x"]}
            if pad:
                r["meta"] = {"pad": pad}
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def transfer_bench(tmp, figures, procs):
    """Issue 17: `restd import` of TRANSFER_RECORDS records against the raw
    SQLite bulk insert (R5, measured round by round beside it); `restd
    export` of the same records; `restd backup` of a ~1 GB SQLite file while
    S1 runs against it, interleaved with S1 alone."""
    n = TRANSFER_RECORDS
    lines = os.path.join(tmp, "transfer.jsonl")
    write_transfer_lines(lines, n)
    log(f"import / export of {n:,} records:")
    imports, r5s = [], []
    for r in range(REPEAT):
        out = subprocess.run(["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "bench_sqlite"),
                              "--benchmark_filter=BulkInsert1000", "--benchmark_format=json"],
                             capture_output=True, text=True, timeout=600).stdout
        r5s.append(json.loads(out)["benchmarks"][0]["items_per_second"])
        db = os.path.join(tmp, f"import-{r}.db")
        cfg = transfer_config(tmp, f"import-{r}", "sqlite:" + db)
        imports.append(n / timed_cli(["import", "things", lines, "--config", cfg]))
        log(f"  round {r + 1}: R5 bulk {r5s[-1]:,.0f} rows/s, import {imports[-1]:,.0f} records/s")
        if r < REPEAT - 1:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.remove(db + suffix)
    figures["T_import"] = statistics.median(imports)
    figures["T_import_R5"] = statistics.median(r5s)
    figures["ratio import/R5"] = statistics.median(a / b for a, b in zip(imports, r5s))
    figures["T_import_rounds"] = imports
    exported = os.path.join(tmp, "exported.jsonl")
    exports = [n / timed_cli(["export", "things", "--out", exported, "--config", cfg]) for _ in range(REPEAT)]
    figures["T_export"] = statistics.median(exports)
    figures["T_export_rounds"] = exports
    log(f"  export {figures['T_export']:,.0f} records/s ({', '.join(f'{x:,.0f}' for x in exports)})")
    os.remove(exported)

    # Backup of a ~1 GB file while S1 reads it.
    big_lines = os.path.join(tmp, "big.jsonl")
    write_transfer_lines(big_lines, n, pad="p" * (900 if not QUICK else 300))
    big = os.path.join(tmp, "big.db")
    cfg = transfer_config(tmp, "big", "sqlite:" + big)
    timed_cli(["import", "things", big_lines, "--config", cfg])
    os.remove(big_lines)
    size_gb = os.path.getsize(big) / 1e9
    port = free_port()
    serve_cfg = _write(tmp, "big-serve.toml", open(cfg).read() + f"""[server]
listen = "127.0.0.1:{port}"
threads = 1
access_log = "off"
max_in_flight = 100000
max_connections_per_client = 0
[rate_limit]
requests_per_minute = 0
""")
    p, token = serve_with_admin(os.path.join(BUILD, "restd"), serve_cfg, port, procs)
    ids = [r[0] for r in sqlite3.connect(big).execute('SELECT id FROM "things" ORDER BY random() LIMIT 10000')]
    env = {"IDS": _write(tmp, "big-ids", "\n".join(ids) + "\n"), "PREFIX": "/api/v2/things/", "TOKEN": token}
    url = f"http://127.0.0.1:{port}"
    wrk(url, "get_ids.lua", env, duration=WARM)
    alone, during, seconds = [], [], []
    copy = os.path.join(tmp, "big-copy.db")
    figures["T_backup_idle_s"] = timed_cli(["backup", copy, "--force", "--config", cfg])
    for r in range(REPEAT):
        alone.append(wrk(url, "get_ids.lua", env)[0])
        # Backups back to back for the whole run (the last one interrupted).
        stop_flag = []

        def backups():
            # Back to back while S1 runs; the one running at its end finishes.
            while not stop_flag:
                t = time.time()
                subprocess.run([os.path.join(BUILD, "restd"), "backup", copy, "--force", "--config", cfg],
                               check=True, capture_output=True, timeout=1800)
                seconds.append(time.time() - t)

        import threading
        t = threading.Thread(target=backups)
        t.start()
        during.append(wrk(url, "get_ids.lua", env)[0])
        stop_flag.append(1)
        t.join()
        log(f"  round {r + 1}: S1 alone {alone[-1]:,.0f}, during backups {during[-1]:,.0f}")
    stop(p)
    procs.remove(p)
    figures["T_backup_GB"] = size_gb
    figures["T_backup_s"] = statistics.median(seconds)
    figures["T_backup_S1_alone"] = statistics.median(alone)
    figures["T_backup_S1_during"] = statistics.median(during)
    figures["ratio S1 during backup"] = statistics.median(b / a for a, b in zip(alone, during))
    log(f"  backup of {size_gb:.2f} GB: {figures['T_backup_idle_s']:.1f} s on an idle CPU, "
        f"{figures['T_backup_s']:.1f} s beside S1; S1 during backups {figures['ratio S1 during backup']:.2f} x S1 alone")


PGBIN = "/usr/lib/postgresql/15/bin"


def pgbench(url, script, clients, env=None):
    """Transactions/s of a pgbench script: pinned like wrk, same client count, median of REPEAT runs."""
    runs = []
    for _ in range(REPEAT):
        out = subprocess.run(["taskset", "-c", CLIENT_CPU, os.path.join(PGBIN, "pgbench"), "-n", "-j", "1",
                              "-c", str(clients), "-T", str(RUN), "-f", script, url],
                             capture_output=True, text=True, timeout=300, env=dict(os.environ, **(env or {})))
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
        if not m:
            raise RuntimeError("pgbench failed: " + out.stderr[-500:])
        runs.append(float(m.group(1)))
    return statistics.median(runs)


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True,
                          text=True).stdout


def postgres(tmp, restd, figures, notes, procs):
    """The PostgreSQL variants (issue 13): a private PostgreSQL 15 pinned to
    the server's CPU with restd, references R6 (Beast + libpq point lookup),
    pgbench -S and pgbench one-row INSERTs, a raw 1000-row INSERT, and two
    restd nodes on one database."""
    state = os.path.join(tmp, "pg")
    base = subprocess.run(["taskset", "-c", SERVER_CPU, "bash", os.path.join(ROOT, "scripts", "pg_cluster.sh"),
                           "start", state], check=True, capture_output=True, text=True).stdout.strip()
    try:
        psql(base + "/postgres", 'CREATE DATABASE "bench"')
        url = base + "/bench"
        log(f"PostgreSQL: loading {RECORDS:,} records ...")
        p, port, cfg, token = start_loaded_restd(tmp, restd, "restd-pg", f'url = "{url}"\npool_size = 8', procs)
        psql(url, "VACUUM ANALYZE")
        ids = psql(url, 'SELECT id FROM "things"').split()
        ids_file = _write(tmp, "pg-ids", "\n".join(ids[::10]) + "\n")
        s1_env = {"IDS": ids_file, "PREFIX": "/api/v2/things/", "TOKEN": token}
        r6port = free_port()
        r6 = start([os.path.join(BUILD, "ref_server"), "postgres", str(r6port), url])
        procs.append(r6)
        wait_port(r6port)
        pairs = {"R6": f"http://127.0.0.1:{r6port}", "P1": f"http://127.0.0.1:{port}"}
        for u in pairs.values():
            wrk(u, "get_ids.lua", s1_env, duration=WARM)
        rounds = {k: [] for k in pairs}
        for n in range(ROUNDS):
            for k, u in pairs.items():
                rps, _, bad, _ = wrk(u, "get_ids.lua", s1_env)
                assert bad == 0, f"{k}: {bad} non-2xx replies"
                rounds[k].append(rps)
            log(f"  round {n + 1}: R6 {rounds['R6'][-1]:,.0f}, P1 {rounds['P1'][-1]:,.0f}")
        figures["R6"] = statistics.median(rounds["R6"])
        figures["P1"] = statistics.median(rounds["P1"])
        figures["ratio P1/R6"] = statistics.median(a / b for a, b in zip(rounds["P1"], rounds["R6"]))
        figures["pg_rounds"] = rounds
        stop(r6)
        procs.remove(r6)

        # Two nodes on one database, each with half the connections.
        port2 = free_port()
        cfg2 = _write(tmp, "restd-pg2.toml", open(cfg).read().replace(f":{port}\"", f":{port2}\""))
        p2 = start([restd, "serve", "--config", cfg2])
        procs.append(p2)
        wait_port(port2)
        # Round by round against one node (this VM drifts): the ratio is the
        # median of the rounds' ratios.
        two, one = [], []
        for n in range(ROUNDS):
            one.append(wrk(pairs["P1"], "get_ids.lua", s1_env)[0])
            outs = [subprocess.Popen(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNS // 2}", f"-d{RUN}s",
                                      "-s", os.path.join(LUA, "get_ids.lua"), f"http://127.0.0.1:{pp}"],
                                     stdout=subprocess.PIPE, text=True, env=dict(os.environ, **s1_env))
                    for pp in (port, port2)]
            two.append(sum(float(re.search(r"Requests/sec:\s+([\d.]+)", o.communicate()[0]).group(1)) for o in outs))
            log(f"  round {n + 1}: one node {one[-1]:,.0f}, two nodes {two[-1]:,.0f}")
        figures["P1_two_nodes"] = statistics.median(two)
        figures["ratio two nodes/one"] = statistics.median(t / o for t, o in zip(two, one))
        log(f"  {'P1 over two nodes':<28} {figures['P1_two_nodes']:>12,.0f}")
        stop(p2)
        procs.remove(p2)

        base_url = f"http://127.0.0.1:{port}"
        one = _write(tmp, "pg-one.json", json.dumps({"name": "posted", "price": 1.5, "tags": ["a"]}))
        figures["P4"] = measure("P4 POST one (durable)", base_url, "post.lua",
                                {"BODY_FILE": one, "PATH_": "/api/v2/things", "TOKEN": token})[0]
        thousand = _write(tmp, "pg-thousand.json",
                          json.dumps([{"name": f"bulk {i}", "price": 2, "tags": ["b"]} for i in range(1000)]))
        figures["P5"] = 1000 * measure("P5 POST 1000 (req/s)", base_url, "post.lua",
                                       {"BODY_FILE": thousand, "PATH_": "/api/v2/things", "TOKEN": token}, conns=4)[0]
        log(f"  {'P5 records/s':<28} {figures['P5']:>12,.0f}")
        stop(p)
        procs.remove(p)

        psql(base + "/postgres", 'CREATE DATABASE "transfer"')
        pg_import_bench(tmp, base + "/transfer", figures)
        # References: the same rows straight into PostgreSQL.
        # The same rows as restd stores them, into a table of the same schema
        # (columns, types, primary key and indexes), ids in ascending runs.
        psql(url, 'CREATE TABLE ref_things (LIKE "things" INCLUDING ALL)')
        insert_one = _write(tmp, "insert-one.sql",
                            "\\set b random(1, 2000000000)\n"
                            "INSERT INTO ref_things VALUES ('r' || :b || '_' || :client_id, NULL, 1, 1, 1, 'user_x', "
                            "'posted', 1.5, '[\"a\"]', NULL);\n")
        figures["R7_insert"] = pgbench(url, insert_one, CONNS)
        log(f"  {'R7 pgbench INSERT/txn':<28} {figures['R7_insert']:>12,.0f}")
        rows = ",".join(f"('r' || :b || '_{i:04d}', NULL, 1, 1, 1, 'user_x', 'bulk {i}', 2, '[\"b\"]', NULL)"
                        for i in range(1000))
        insert_many = _write(tmp, "insert-1000.sql", f"\\set b random(1, 2000000000)\nINSERT INTO ref_things VALUES {rows};\n")
        figures["R8_bulk"] = 1000 * pgbench(url, insert_many, 4)
        log(f"  {'R8 raw 1000-row INSERT rows/s':<28} {figures['R8_bulk']:>12,.0f}")
        subprocess.run([os.path.join(PGBIN, "pgbench"), "-i", "-q", "-s", "10", url], check=True, capture_output=True)
        select_only = _write(tmp, "select-only.sql",
                             "\\set aid random(1, 1000000)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n")
        figures["R9_select"] = pgbench(url, select_only, CONNS)
        log(f"  {'R9 pgbench -S':<28} {figures['R9_select']:>12,.0f}")
    except (subprocess.CalledProcessError, RuntimeError, AssertionError, OSError) as e:
        notes.append(f"The PostgreSQL benchmarks stopped: {e}")
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg_cluster.sh"), "stop", state], check=False)


def _write(tmp, name, text):
    path = os.path.join(tmp, name)
    open(path, "w").write(text)
    return path


def _json_server():
    """json-server 0.17 from npm, installed once into bench/.cache."""
    cache = os.path.join(ROOT, "bench", ".cache")
    cli = os.path.join(cache, "node_modules", "json-server", "lib", "cli", "bin.js")
    if not os.path.exists(cli):
        os.makedirs(cache, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", cache, "--no-audit", "--no-fund", "json-server@0.17.4"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            log(r.stderr[-2000:])
            return None
    return cli


def rounds_table(title, rounds, columns, ratios, before=None, after=None):
    """The lines of a section of latest.md listing interleaved rounds, or none
    when `rounds` is empty: one row per round, the `columns` (key, heading)
    as whole numbers, then the `ratios` (numerator key, denominator key,
    heading) of that round to two places; `before` and `after` are
    paragraphs around the table."""
    if not rounds:
        return []
    headings = [h for _, h in columns] + [h for _, _, h in ratios]
    out = ["", title, ""] + ([before, ""] if before else [])
    out += ["| round | " + " | ".join(headings) + " |", "|---|" + "---:|" * len(headings)]
    for i in range(len(rounds[columns[0][0]])):
        cells = [f"{rounds[k][i]:,.0f}" for k, _ in columns] + [f"{rounds[a][i] / rounds[b][i]:.2f}" for a, b, _ in ratios]
        out.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return out + (["", after] if after else [])


def report(f, micro, notes):
    def ratio(a, b):
        return f.get(a, 0) / f[b] if f.get(b) else 0
    targets = [
        ("S1 >= 0.85 x R2", f["ratio S1/R2"], 0.85),
        ("S1 >= 0.6 x R1", f["ratio S1/R1"], 0.6),
        ("S6 >= 0.85 x R1", f["ratio S6/R1"], 0.85),
        ("S1 >= 25 x R4", ratio("S1", "R4_S1"), 25),
        ("S4 >= 8 x R5 fsync-per-insert", ratio("S4", "R5_InsertFsyncEach"), 8),
        ("S5 >= 0.40 x R5 bulk insert (same rounds)", f["ratio S5/R5 bulk"], 0.40),
    ]
    if "S2b" in f:
        targets += [
            ("S2b >= 0.3 x S1 (first filtered, sorted page with its total; same rounds)", f["ratio S2b/S1"], 0.3),
            ("S2c >= 0.5 x S1 (the same without the total; same rounds)", f["ratio S2c/S1"], 0.5),
        ]
    if "ratio S1 ratelimit on/off" in f:
        targets += [
            ("S1 with rate limiting on >= 0.9 x off", f["ratio S1 ratelimit on/off"], 0.9),
            ("S1 with /metrics on >= 0.95 x off", f["ratio S1 metrics on/off"], 0.95),
        ]
    if "E1" in f:
        targets += [
            ("E1 p99 delivery <= 50 ms (1,000 subscribers, 500 writes/s; from the POST's send, an upper bound "
             "on commit to receipt): 50 / p99", 50 / max(f["E1"]["p99_from_send_ms"], 1e-3), 1.0),
            ("E1 idle stream <= 16 KiB RSS: 16 / KiB", 16 / max(f["E1_kib_per_subscriber"], 1e-3), 1.0),
        ]
    if "T_import" in f:
        targets += [
            (f"export >= 300k records/s ({TRANSFER_RECORDS:,} records): records/s / 300k", f["T_export"] / 300_000, 1.0),
            ("import >= 0.5 x R5 bulk insert (same run, per round)", f["ratio import/R5"], 0.5),
            ("S1 during a backup of the ~1 GB file >= 0.8 x S1 alone", f["ratio S1 during backup"], 0.8),
        ]
    if "T_import_pg" in f:
        targets.append(("PostgreSQL import >= 0.5 x raw 1000-row INSERT (one client)", f["ratio import/R8_1"], 0.5))
    if "P1" in f:
        targets += [
            ("P1 >= 0.8 x R6 (PostgreSQL GET one)", f["ratio P1/R6"], 0.8),
            ("P4 >= 1.0 x pgbench one-row INSERT (PostgreSQL durable POST)", ratio("P4", "R7_insert"), 1.0),
            ("P5 >= 0.4 x raw 1000-row INSERT (PostgreSQL batch)", ratio("P5", "R8_bulk"), 0.4),
            ("two nodes >= 0.9 x one node (PostgreSQL GET one; same rounds)",
             f.get("ratio two nodes/one", ratio("P1_two_nodes", "P1")), 0.9),
        ]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = ["# restd benchmark results", "",
             f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
             f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
             f"- mode: {'QUICK' if QUICK else 'full'} — warm-up {WARM} s, {REPEAT} runs of {RUN} s, median; "
             f"{CONNS} keep-alive connections; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}; "
             f"{RECORDS:,} records; restd with 1 I/O thread, durability full, access log to a file",
             "- caution: on this shared VM the same unchanged reference has moved by a third between runs minutes "
             "apart; S1, S6, R1 and R2 therefore run interleaved (one wrk run of each per round, "
             f"{ROUNDS} rounds) and their ratios are the median of the per-round ratios", "",
             "## Throughput", "", "| scenario | requests/s |", "|---|---:|"]
    names = {"S1": "S1 GET /things/{id}, Bearer token", "S2": "S2 GET /things?page=N (with total)",
             "S2b": "S2b GET /listings?state=live&sort=-price&per_page=20 (with total)",
             "S2c": "S2c the same, count=false",
             "S3": "S3 cursor paging, deep", "S4": "S4 POST one record, durable", "S5": "S5 POST 1000-record arrays (records/s)",
             "S6": "S6 GET /healthz", "R1": "R1 minimal Beast, S1 bytes from memory",
             "R2": "R2 minimal Beast + SQLite point lookup", "R3": "R3 nginx, one worker, static file",
             "R4_S1": "R4 json-server 0.17, GET one", "R4_S2": "R4 json-server 0.17, GET page",
             "R4_S4": "R4 json-server 0.17, POST one", "R5_PointLookup": "R5 raw SQLite point lookups/s",
             "R5_InsertFsyncEach": "R5 raw SQLite one-fsync-per-insert/s", "R5_BulkInsert1000": "R5 raw SQLite bulk insert rows/s",
             "P1": "P1 PostgreSQL: GET /things/{id}, Bearer token", "P1_two_nodes": "P1 over two nodes on one database",
             "P4": "P4 PostgreSQL: POST one record, durable", "P5": "P5 PostgreSQL: POST 1000-record arrays (records/s)",
             "R6": "R6 minimal Beast + libpq point lookup", "R7_insert": "R7 pgbench, one-row INSERT per transaction (tps)",
             "R8_bulk": "R8 pgbench, one 1000-row INSERT per transaction (rows/s)", "R9_select": "R9 pgbench -S (select-only tps)"}
    for k, label in names.items():
        if k in f:
            lines.append(f"| {label} | {f[k]:,.0f} |")
    lines += ["", "## Latency and memory", "",
              f"- S8: GET one at half of S1's peak ({f['S8_actual']:,.0f} req/s measured, {f['S8_rate']:,.0f} asked; "
              f"16 connections, paced): "
              f"p50 {f['S8_p50_ms']:.3f} ms, p99 {f['S8_p99_ms']:.3f} ms (target p99 <= 1 ms: "
              f"{'met' if f['S8_p99_ms'] <= 1 else 'NOT met'})",
              f"- S7: RSS idle after start with {RECORDS:,} records: {f['S7_idle_MB']:.1f} MB (target <= 40: "
              f"{'met' if f['S7_idle_MB'] <= 40 else 'NOT met'}); 10,000 idle keep-alive connections add "
              f"{f['S7_10k_MB']:.1f} MB (target <= 80: {'met' if f['S7_10k_MB'] <= 80 else 'NOT met'})",
              ] + ([f"- E1: {f['E1']['subscribers']:,} change-feed subscribers, 500 durable POSTs/s for 10 s: "
                    f"{f['E1']['deliveries']:,} of {f['E1']['expected']:,} deliveries; commit to receipt lies "
                    f"between the latency from the POST's reply (p50 {f['E1']['p50_ms']:.2f} ms, p99 "
                    f"{f['E1']['p99_ms']:.2f} ms, max {f['E1']['max_ms']:.2f} ms) and from its send (p50 "
                    f"{f['E1']['p50_from_send_ms']:.2f} ms, p99 {f['E1']['p99_from_send_ms']:.2f} ms, max "
                    f"{f['E1']['max_from_send_ms']:.2f} ms); RSS per idle stream {f['E1_kib_per_subscriber']:.1f} KiB"]
                   if "E1" in f else []) + [
              ] + ([f"- T: `restd import` of {TRANSFER_RECORDS:,} records {f['T_import']:,.0f} records/s (rounds "
                    f"{', '.join(f'{x:,.0f}' for x in f['T_import_rounds'])}; R5 bulk {f['T_import_R5']:,.0f} rows/s "
                    f"beside them); `restd export` {f['T_export']:,.0f} records/s (runs "
                    f"{', '.join(f'{x:,.0f}' for x in f['T_export_rounds'])}); `restd backup` of "
                    f"{f['T_backup_GB']:.2f} GB {f['T_backup_idle_s']:.1f} s on an idle CPU, {f['T_backup_s']:.1f} s "
                    f"beside S1 (nice 19, at most 100 MB/s by default), S1 {f['T_backup_S1_during']:,.0f} req/s during backups against "
                    f"{f['T_backup_S1_alone']:,.0f} alone"] if "T_import" in f else []) + (
                  [f"- T (PostgreSQL): `restd import` {f['T_import_pg']:,.0f} records/s; a raw 1000-row INSERT from one "
                   f"pgbench client {f['T_import_pg_ref']:,.0f} rows/s"] if "T_import_pg" in f else []) + [
              "", "## Ratios (this run)", "", "| target | ratio | met |", "|---|---:|---|"]
    for label, value, goal in targets:
        lines.append(f"| {label} | {value:.2f} | {'yes' if value >= goal else 'NO'} |")
    lines += rounds_table("## Interleaved rounds (requests/s)", f.get("rounds"),
                          [("R1", "R1"), ("R2", "R2"), ("S1", "S1"), ("S6", "S6")],
                          [("S1", "R2", "S1/R2"), ("S1", "R1", "S1/R1"), ("S6", "R1", "S6/R1")])
    lines += rounds_table("## Batches, interleaved rounds", f.get("batch rounds"),
                          [("S5", "S5 records/s"), ("R5", "R5 bulk rows/s")], [("S5", "R5", "S5/R5")])
    lines += rounds_table("## First pages, interleaved rounds (requests/s)", f.get("first_page_rounds"),
                          [("S1", "S1"), ("S2b", "S2b"), ("S2c", "S2c")],
                          [("S2b", "S1", "S2b/S1"), ("S2c", "S1", "S2c/S1")])
    lines += rounds_table("## Feature costs, interleaved rounds (S1 requests/s)", f.get("cost rounds"),
                          [("plain", "neither"), ("limited", "rate limit"), ("metrics", "metrics")],
                          [("limited", "plain", "rate limit / neither"), ("metrics", "plain", "metrics / neither")],
                          before="Three restd processes on one SQLite file: neither rate limiting nor /metrics, rate "
                                 "limiting on (a limit no request reaches: every request spends a token and carries "
                                 "the headers), /metrics on.")
    lines += rounds_table("## PostgreSQL interleaved rounds (requests/s)", f.get("pg_rounds"),
                          [("R6", "R6"), ("P1", "P1")], [("P1", "R6", "P1/R6")],
                          after="PostgreSQL 15 (a private cluster, fsync on, synchronous_commit on) runs on the "
                                "server's CPU with restd and R6; wrk and pgbench on the client's, with the same client "
                                "counts (64; 4 for the 1000-row batches). restd: 1 I/O thread, pool_size 8.")
    lines += ["", "## Micro-benchmarks (bench/micro, CPU time per call)", "", "| benchmark | time |", "|---|---:|"]
    for name, t, unit in micro:
        lines.append(f"| {name} | {t:,.0f} {unit} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    open(os.path.join(RESULTS, "latest.md"), "w").write(text)
    print(text)
    chart(f)


def chart(f):
    rows = [(k, f[k]) for k in ("S6", "R1", "R3", "S1", "R2", "R4_S1", "S2", "R4_S2", "S3", "S4", "R4_S4") if k in f]
    data = os.path.join(RESULTS, "latest.dat")
    with open(data, "w") as out:
        for i, (k, v) in enumerate(rows):
            out.write(f'{i} "{k}" {v:.0f} {1 if k.startswith("S") else 2}\n')
    script = f"""set terminal png size 1000,520 font ",10" noenhanced
set output "{os.path.join(RESULTS, 'latest.png')}"
set title "restd (blue) beside references (orange), requests/s, same run"
set style fill solid 0.8 border -1
set boxwidth 0.7
set logscale y
set yrange [1:*]
set xtics rotate by -30
set grid ytics
unset key
plot "{data}" using 1:3:($4==1 ? 0x3b6fb6 : 0xe08a2e):xtic(2) with boxes lc rgb variable, \
     "" using 1:3:(sprintf("%.0f", $3)) with labels offset 0,0.7 font ",8"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.remove(data)


def loaded_sqlite_restd(tmp, procs):
    """restd on a loaded SQLite file in `tmp` (start_loaded_restd), for the
    subcommands that measure one part alone. Returns (port, config path,
    token, S1's wrk environment)."""
    db = os.path.join(tmp, "restd.db")
    _, port, cfg, token = start_loaded_restd(tmp, os.path.join(BUILD, "restd"), "restd", f'url = "sqlite:{db}"', procs)
    ids = [r[0] for r in sqlite3.connect(db).execute('SELECT id FROM "things"')]
    ids_file = _write(tmp, "ids", "\n".join(ids[::10]) + "\n")
    return port, cfg, token, {"IDS": ids_file, "PREFIX": "/api/v2/things/", "TOKEN": token}


def alone(measure_part):
    """Runs measure_part(figures, running processes, scratch directory) on its
    own, for the subcommands below, stops what it started and prints its
    figures."""
    figs, running, scratch = {}, [], tempfile.mkdtemp(prefix="restd-bench-")
    try:
        measure_part(figs, running, scratch)
    finally:
        for proc in running:
            stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(figs, indent=1))


def _feature_costs_alone(figs, running, scratch):
    """The rate-limit and metrics costs on a loaded SQLite file."""
    port_, cfg_, token_, s1_env_ = loaded_sqlite_restd(scratch, running)
    feature_costs(scratch, os.path.join(BUILD, "restd"), cfg_, s1_env_, figs, running)


def _get_one_alone(figs, running, scratch):
    """S1 and S6 against R1 and R2, interleaved (issue 19's S1 >= 0.6 x R1)."""
    port_, cfg_, token_, s1_env_ = loaded_sqlite_restd(scratch, running)
    db_ = os.path.join(scratch, "restd.db")
    one_id = next(iter(sqlite3.connect(db_).execute('SELECT id FROM "things" LIMIT 1')))[0]
    _, body_ = request(port_, "GET", "/api/v2/things/" + one_id, headers={"Authorization": "Bearer " + token_})
    get_one_rounds(scratch, db_, f"http://127.0.0.1:{port_}", s1_env_, _write(scratch, "s1.json", body_.decode()),
                   figs, running)


def _batches_alone(figs, running, scratch):
    """S5 against R5's bulk insert, interleaved."""
    port_, cfg_, token_, s1_env_ = loaded_sqlite_restd(scratch, running)
    batch_rounds(scratch, f"http://127.0.0.1:{port_}", token_, figs)


def _pages_alone(figs, running, scratch):
    """S2b/S2c against S1 on a loaded SQLite file (issue 19)."""
    port_, cfg_, token_, s1_env_ = loaded_sqlite_restd(scratch, running)
    first_pages(scratch, port_, f"http://127.0.0.1:{port_}", token_, s1_env_, figs)


PARTS = {
    "events": lambda figs, running, scratch: events_bench(scratch, os.path.join(BUILD, "restd"), figs, running),
    "costs": _feature_costs_alone,
    "get": _get_one_alone,
    "batches": _batches_alone,
    "pages": _pages_alone,
}


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in PARTS:
        alone(PARTS[sys.argv[1]])
    elif sys.argv[1:] == ["transfer"]:
        # Only export, import and backup (issue 17), figures printed.
        figs, nts, running, scratch = {}, [], [], tempfile.mkdtemp(prefix="restd-bench-")
        state_ = os.path.join(scratch, "pg")
        try:
            base_ = subprocess.run(["taskset", "-c", SERVER_CPU, "bash", os.path.join(ROOT, "scripts", "pg_cluster.sh"),
                                    "start", state_], check=True, capture_output=True, text=True).stdout.strip()
            psql(base_ + "/postgres", 'CREATE DATABASE "transfer"')
            transfer_bench(scratch, figs, running)
            pg_import_bench(scratch, base_ + "/transfer", figs)
        finally:
            for proc in running:
                stop(proc)
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg_cluster.sh"), "stop", state_], check=False)
            shutil.rmtree(scratch, ignore_errors=True)
        print(json.dumps(figs, indent=1), nts)
    elif sys.argv[1:] == ["postgres"]:
        # Only the PostgreSQL variants, figures printed (no report written).
        figs, nts, running, scratch = {}, [], [], tempfile.mkdtemp(prefix="restd-bench-")
        try:
            postgres(scratch, os.path.join(BUILD, "restd"), figs, nts, running)
        finally:
            for proc in running:
                stop(proc)
            shutil.rmtree(scratch, ignore_errors=True)
        print(json.dumps({k: v for k, v in figs.items()}, indent=1), nts)
    else:
        main()
