#!/usr/bin/env python3
"""What one GET of one record with a token costs, counted rather than timed.

    python3 bench/per_request.py [--write] [--keep] [list]     (make bench-costs: both, written)

restd (SQLite, one I/O thread) and R1 (bench/ref_server.cpp static, the bare
Beast server) each answer a sequential keep-alive client asking for the same
record again and again, so nothing is batched and every cost is paid by one
request. For the GET, R2 (ref_server.cpp sqlite: R1 plus one SQLite point
lookup of the same record) is counted as well: what reading the record costs
by itself, against which the targets can be read. For each server:

  - system calls per request: `strace -f -c` attached to every thread for
    STRACE_REQUESTS requests after a warm-up;
  - instructions, heap allocations and lock acquisitions per request: one run
    under callgrind with instrumentation switched on only for
    CALLGRIND_REQUESTS requests after a warm-up. Allocations are calls of
    malloc, calloc, realloc and the aligned allocators (operator new calls
    malloc); locks are calls of pthread_mutex_lock/trylock, the rwlock lock
    functions and pthread_spin_lock (std::mutex and std::shared_mutex end up
    there; a bare atomic is not a lock and is not counted).

Counts are the server's whole process (every thread), divided by the number of
requests; background timers add a few hundredths per request at most. The
allocation and lock rows are given twice: in all, and without what Asio and
Beast take for themselves (the scheduler's and reactor's locks, the parser's
header fields), which the bare Beast server R1 pays as well.
Prints a Markdown report, and with --write puts it into
bench/results/per_request.md. Needs valgrind and strace (make bench installs
them). The callgrind run takes about a minute."""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the bench's helpers: build dir, start/stop, admin sign-in)

STRACE_REQUESTS = 5000
CALLGRIND_REQUESTS = 2000
WARMUP = 300

ALLOC = re.compile(r"^(malloc|calloc|realloc|aligned_alloc|memalign|posix_memalign)(@.*)?$")
LOCK = re.compile(r"^_*pthread_(mutex_lock|mutex_trylock|mutex_timedlock|rwlock_(rd|wr|tryrd|trywr|timedrd|timedwr)lock"
                  r"|spin_lock)(@.*)?$")
TARGETS = {"syscalls_over_r1": 1, "allocs": 5, "locks": 2, "instructions_ratio": 1.3}


class Client:
    """A keep-alive HTTP/1.1 client that asks for one path again and again."""

    def __init__(self, port, path, token):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        self.buf = b""

    def get(self):
        self.sock.sendall(self.req)
        while b"\r\n\r\n" not in self.buf:
            self._read()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        self.buf = rest
        while len(self.buf) < length:
            self._read()
        self.buf = self.buf[length:]
        if status != 200:
            raise RuntimeError(f"status {status}")

    def _read(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        self.buf += chunk

    def many(self, n):
        for _ in range(n):
            self.get()


def strace_counts(pid, client, n):
    """System calls of every thread of `pid` while `client` makes n requests."""
    out = tempfile.mktemp(prefix="restd-strace-")
    tracer = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)   # attached to every thread
    client.many(n)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    calls = {}
    for line in open(out):
        f = line.split()
        # "% time seconds usecs/call calls [errors] syscall"
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    os.unlink(out)
    return calls


def parse_callgrind(path):
    """Total instructions, self instructions per function and call counts
    (caller, callee) -> n from a callgrind output file."""
    names, fn, callee, after_calls = {}, None, None, False
    total, self_cost, calls = 0, collections.Counter(), collections.Counter()

    def name(ref):
        m = re.match(r"\((\d+)\)(?: (.*))?", ref)
        if not m:
            return ref
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), ref)

    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            calls[(fn, callee)] += int(line[6:].split()[0])
            after_calls = True
            continue
        elif line.startswith(("summary:", "totals:")):
            total = max(total, int(line.split()[1]))
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if len(parts) >= 2 and not after_calls:
                self_cost[fn] += int(parts[1])
        after_calls = False
    return total, self_cost, calls


WRAPPERS = re.compile(r"^(operator new|std::__cxx11::basic_string<|std::vector<|std::pair<|std::_Function_base|"
                      r"std::__detail::_Hashtable|void std::vector<|std::_Hashtable<|sqlite3Malloc$|sqlite3Realloc$)")


def attribute_allocations(calls):
    """Allocations by the function that asked for them: calls of the malloc
    family, passed up through operator new and the standard library's
    containers (a few levels) to the first caller of our own or a library's."""
    callers = collections.defaultdict(collections.Counter)
    for (caller, callee), k in calls.items():
        callers[callee][caller] += k
    out = collections.Counter()

    def walk(name, k, depth):
        up = callers.get(name)
        if depth == 0 or not WRAPPERS.match(name or "") or not up:
            out[name] += k
            return
        total = sum(up.values())
        for caller, kk in up.items():
            walk(caller, k * kk / total, depth - 1)

    for callee in list(callers):
        if ALLOC.match(callee or ""):
            for caller, k in callers[callee].items():
                walk(caller, k, 4)
    return out


def callgrind_counts(cmd, port, path, token, n, out):
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"] + cmd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run.wait_port(port, timeout=120)
        client = Client(port, path, token)
        client.many(WARMUP)
        subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True, capture_output=True)
        client.many(n)
        subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True, capture_output=True)
        client.sock.close()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=120)
    total, self_cost, calls = parse_callgrind(out)
    allocs = collections.Counter()
    locks = collections.Counter()
    for (caller, callee), k in calls.items():
        if ALLOC.match(callee or ""):
            allocs[caller] += k
        elif LOCK.match(callee or ""):
            locks[caller] += k
    # What the HTTP library takes for itself, which R1 pays as well: Asio's
    # scheduler and reactor locks, Beast's parser and header-field allocations.
    library = re.compile(r"^(boost::asio::|boost::beast::)")
    attributed = attribute_allocations(calls)
    return {"instructions": total / n, "allocs": sum(allocs.values()) / n, "locks": sum(locks.values()) / n,
            "allocs_own": sum(k for c, k in attributed.items() if not library.match(c)) / n,
            "locks_own": sum(k for c, k in locks.items() if not library.match(c or "")) / n,
            "alloc_sites": [(c, k / n) for c, k in attributed.most_common(24)],
            "lock_callers": [(c, k / n) for c, k in locks.most_common(8)],
            "hot": [(f, c / n) for f, c in self_cost.most_common(15)]}


def measure(name, cmd, port, path, token, tmp):
    run.log(f"{name}: strace ...")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run.wait_port(port)
        client = Client(port, path, token)
        client.many(WARMUP)
        sys_calls = strace_counts(p.pid, client, STRACE_REQUESTS)
        client.sock.close()
    finally:
        run.stop(p)
    run.log(f"{name}: callgrind ...")
    figs = callgrind_counts(cmd, port, path, token, CALLGRIND_REQUESTS, os.path.join(tmp, name + ".callgrind"))
    figs["syscalls"] = {k: v / STRACE_REQUESTS for k, v in sys_calls.items() if v / STRACE_REQUESTS >= 0.005}
    figs["syscalls_total"] = sum(figs["syscalls"].values())
    return figs


def report(restd, r1, what, r2=None):
    ratio = restd["instructions"] / r1["instructions"]
    rows = [
        ("system calls", f"{restd['syscalls_total']:.2f}", f"{r1['syscalls_total']:.2f}",
         f"<= R1 + {TARGETS['syscalls_over_r1']}", restd["syscalls_total"] <= r1["syscalls_total"] + 1.005),
        ("epoll_ctl", f"{restd['syscalls'].get('epoll_ctl', 0):.2f}", f"{r1['syscalls'].get('epoll_ctl', 0):.2f}",
         "none per request", restd["syscalls"].get("epoll_ctl", 0) < 0.05),
        ("heap allocations", f"{restd['allocs']:.2f}", f"{r1['allocs']:.2f}", f"<= {TARGETS['allocs']}",
         restd["allocs"] <= TARGETS["allocs"] + 0.005),
        ("lock acquisitions", f"{restd['locks']:.2f}", f"{r1['locks']:.2f}", f"<= {TARGETS['locks']}",
         restd["locks"] <= TARGETS["locks"] + 0.005),
        ("of them outside Asio and Beast: allocations", f"{restd['allocs_own']:.2f}", f"{r1['allocs_own']:.2f}",
         f"<= {TARGETS['allocs']}", restd["allocs_own"] <= TARGETS["allocs"] + 0.005),
        ("of them outside Asio and Beast: locks", f"{restd['locks_own']:.2f}", f"{r1['locks_own']:.2f}",
         f"<= {TARGETS['locks']}", restd["locks_own"] <= TARGETS["locks"] + 0.005),
        ("instructions (user space)", f"{restd['instructions']:,.0f}", f"{r1['instructions']:,.0f}",
         f"<= {TARGETS['instructions_ratio']} x R1 ({ratio:.2f} x)", ratio <= TARGETS["instructions_ratio"]),
    ]
    out = [f"# Per-request costs: {what}",
           "",
           f"- date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
           f"- method: `bench/per_request.py`; one sequential keep-alive client, one record; restd on SQLite with one "
           f"I/O thread, access log to a file; system calls from `strace -f -c` over {STRACE_REQUESTS:,} requests, "
           f"the rest from callgrind over {CALLGRIND_REQUESTS:,} requests, each after {WARMUP} warm-up requests; "
           "every thread of the process counted",
           "",
           "| per request | restd | R1 | target | met |",
           "|---|---:|---:|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} | {'yes' if e else 'NO'} |" for a, b, c, d, e in rows]
    if r2:
        # What a server that does no more than read the record from SQLite
        # costs: how much of each target a database read leaves.
        out += ["", "## R2: bare Beast plus one SQLite point lookup (bench/ref_server.cpp sqlite)", "",
                "| per request | R2 | R2 / R1 |", "|---|---:|---:|"]
        for label, key, fmt in (("system calls", "syscalls_total", "{:.2f}"), ("heap allocations", "allocs", "{:.2f}"),
                                ("lock acquisitions", "locks", "{:.2f}"),
                                ("instructions (user space)", "instructions", "{:,.0f}")):
            base = r1[key] or 1
            out.append(f"| {label} | {fmt.format(r2[key])} | {r2[key] / base:.2f} x |")
    for title, key in (("System calls", "syscalls"),):
        out += ["", f"## {title} per request", "", "| call | restd | R1 |", "|---|---:|---:|"]
        for k in sorted(set(restd[key]) | set(r1[key])):
            out.append(f"| {k} | {restd[key].get(k, 0):.2f} | {r1[key].get(k, 0):.2f} |")
    out += ["", "## Where restd allocates (per request, by the function that asks)", "", "| function | allocations |",
            "|---|---:|"]
    out += [f"| `{c[:110]}` | {k:.2f} |" for c, k in restd["alloc_sites"]]
    out += ["", "## Where restd locks (caller, per request)", "", "| caller | calls |", "|---|---:|"]
    out += [f"| `{c[:110]}` | {k:.2f} |" for c, k in restd["lock_callers"]]
    out += ["", "## restd's hottest functions (self instructions per request)", "", "| function | instructions |",
            "|---|---:|"]
    out += [f"| `{f[:110]}` | {c:,.0f} |" for f, c in restd["hot"]]
    return "\n".join(out) + "\n"


def main():
    tmp = tempfile.mkdtemp(prefix="restd-costs-")
    procs = []
    try:
        restd = os.path.join(run.BUILD, "restd")
        cfg = os.path.join(tmp, "restd.toml")
        port = run.free_port()
        with open(cfg, "w") as f:
            f.write(f"""[server]
listen = "127.0.0.1:{port}"
threads = 1
access_log = "{os.path.join(tmp, 'access.log')}"
[storage]
url = "sqlite:{os.path.join(tmp, 'restd.db')}"
[rate_limit]
requests_per_minute = 0
""" + run.COLLECTIONS)
        p, token = run.serve_with_admin(restd, cfg, port, procs)
        st, body = run.request(port, "POST", "/api/v2/things", json.dumps({"name": "thing 1", "price": 9.5,
                                                                           "tags": ["bench", "x"]}),
                               {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        assert st == 201, (st, body)
        rid = json.loads(body)["data"]["id"]
        path = "/api/v2/things/" + rid
        if "list" in sys.argv:   # S2c's request: a first page of 20 from 60 records, 40 of them live
            items = [{"name": f"listing {i}", "state": "live" if i % 3 else "sold", "price": i * 1.5} for i in range(60)]
            st, _ = run.request(port, "POST", "/api/v2/listings", json.dumps(items),
                                {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
            assert st == 201, st
            path = "/api/v2/listings?state=live&sort=-price&per_page=20&count=false"
        st, s1_body = run.request(port, "GET", path, headers={"Authorization": "Bearer " + token})
        assert st == 200
        run.stop(p)
        procs.remove(p)
        body_file = os.path.join(tmp, "s1.json")
        open(body_file, "wb").write(s1_body)
        figs = measure("restd", [restd, "serve", "--config", cfg], port, path, token, tmp)
        r1port = run.free_port()
        ref = measure("R1", [os.path.join(run.BUILD, "ref_server"), "static", str(r1port), body_file], r1port, path,
                      token, tmp)
        listing = "list" in sys.argv
        r2 = None
        if not listing:
            r2port = run.free_port()
            r2 = measure("R2", [os.path.join(run.BUILD, "ref_server"), "sqlite", str(r2port),
                                os.path.join(tmp, "restd.db")], r2port, path, token, tmp)
        text = report(figs, ref, "S2c's first page of 20 (R1 sends the same bytes)" if listing
                      else "GET one record with a token", r2)
        print(text)
        if "--write" in sys.argv:
            open(os.path.join(run.RESULTS, "per_request_list.md" if listing else "per_request.md"), "w").write(text)
        return 0
    finally:
        for p in procs:
            run.stop(p)
        if "--keep" in sys.argv:   # the callgrind files, for callgrind_annotate
            run.log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
