"""Durability (SPEC §9): with durability = "full", a 2xx reply to a write
means the write is on disk. Concurrent writers stream creates and updates;
the server is killed with SIGKILL at a random moment, ten times; every
acknowledged write must be there afterwards and the database intact."""
import http.client
import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ENGINE, RestdServer, sqlite_only  # noqa: E402

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"

[storage]
durability = "full"

[collections.things.fields]
name = { type = "string", required = true }
n    = { type = "integer" }
"""

WRITERS = 8


def writer(port, token, stop, acked, updates, lock, seed):
    rnd = random.Random(seed)
    conn = None
    mine = []
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if mine and rnd.random() < 0.3:
                rid, n = rnd.choice(mine)
                conn.request("PATCH", f"/api/v2/things/{rid}", body=json.dumps({"n": n + 1}),
                             headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
                r = conn.getresponse()
                body = r.read()
                if r.status == 200:
                    v = json.loads(body)["data"]
                    mine = [(i, v["n"] if i == rid else m) for i, m in mine]
                    with lock:
                        updates[rid] = max(updates.get(rid, 0), v["n"])
            else:
                conn.request("POST", "/api/v2/things", body=json.dumps({"name": f"w{seed}", "n": 0}),
                             headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
                r = conn.getresponse()
                body = r.read()
                if r.status == 201:
                    rid = json.loads(body)["data"]["id"]
                    mine.append((rid, 0))
                    with lock:
                        acked.append(rid)
        except (OSError, http.client.HTTPException, ValueError):
            conn = None
            if stop.is_set():
                break
            time.sleep(0.01)


class KillNine(unittest.TestCase):
    def test_no_acknowledged_write_is_lost_across_ten_kills(self):
        srv = RestdServer(CONFIG)
        acked, updates, lock = [], {}, threading.Lock()
        rnd = random.Random(42)
        rates = []
        try:
            token = None
            for round_ in range(10):
                srv.start()
                if token is None:
                    token = srv.as_admin()   # tokens live in storage: one login serves every restart
                stop = threading.Event()
                before = len(acked)
                threads = [threading.Thread(target=writer, args=(srv.port, token, stop, acked, updates, lock, round_ * 100 + i))
                           for i in range(WRITERS)]
                t0 = time.time()
                for t in threads:
                    t.start()
                time.sleep(rnd.uniform(0.3, 0.8))
                srv.proc.send_signal(signal.SIGKILL)   # mid-stream, no warning
                srv.proc.wait()
                elapsed = time.time() - t0
                stop.set()
                for t in threads:
                    t.join()
                rates.append((len(acked) - before) / elapsed)
                self.assertGreater(len(acked), before, "no write was acknowledged in this round")

                if ENGINE == "sqlite":
                    self.assertEqual(srv.sql("PRAGMA integrity_check"), [("ok",)])
                stored = {i: int(n) for i, n in srv.sql('SELECT id, n FROM "things"')}
                with lock:
                    missing = [i for i in acked if i not in stored]
                    stale = [i for i, n in updates.items() if stored.get(i, -1) < n]
                self.assertEqual(missing, [], f"round {round_}: acknowledged creates lost")
                self.assertEqual(stale, [], f"round {round_}: acknowledged updates lost")
            # the restarted server serves what survived
            srv.start()
            r = srv.request("GET", "/api/v2/things?per_page=1")
            self.assertGreaterEqual(int(r.header("X-Total-Count")), len(acked))
            print(f"\n{len(acked)} acknowledged creates, {len(updates)} records updated; "
                  f"~{sum(rates) / len(rates):.0f} acknowledged creates/s with {WRITERS} writers", file=sys.stderr)
        finally:
            srv.stop(sig=signal.SIGKILL)
            srv.cleanup()


def wal_commits(wal_path):
    """Counts the commit frames of a SQLite WAL file (frames of the current salt only)."""
    import struct
    with open(wal_path, "rb") as f:
        data = f.read()
    if len(data) < 32:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salt = data[16:24]
    commits, pos = 0, 32
    while pos + 24 + page_size <= len(data):
        header = data[pos:pos + 24]
        if header[8:16] != salt:
            break
        if struct.unpack(">I", header[4:8])[0] != 0:   # database size after commit: set on commit frames only
            commits += 1
        pos += 24 + page_size
    return commits


def concurrent_posts(srv, token, clients=16, each=10):
    """`clients` connections at once, each POSTing `each` records in turn;
    returns the list of acknowledged (201) writes."""
    done = []
    lock = threading.Lock()

    def burst(n):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        for i in range(each):
            conn.request("POST", "/api/v2/things", body=json.dumps({"name": f"g{n}-{i}", "n": i}),
                         headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
            r = conn.getresponse()
            r.read()
            if r.status == 201:
                with lock:
                    done.append(1)
        conn.close()
    threads = [threading.Thread(target=burst, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


class GroupCommit(unittest.TestCase):
    @sqlite_only
    def test_concurrent_writes_share_commits(self):
        with RestdServer(CONFIG) as srv:
            token = srv.as_admin()
            before = wal_commits(srv.db_path + "-wal")
            done = concurrent_posts(srv, token)
            commits = wal_commits(srv.db_path + "-wal") - before
            self.assertEqual(len(done), 160)
            self.assertGreater(commits, 0)
            # 160 acknowledged durable writes, fewer commits (each commit is one fsync)
            self.assertLess(commits, len(done), f"{commits} commits for {len(done)} writes")
            print(f"\n160 concurrent durable writes in {commits} commits", file=sys.stderr)

    def test_group_commit_on_either_engine(self):
        # Counted by restd itself (/metrics: restd_commit_group_size), so the
        # same test holds on PostgreSQL: concurrent durable writes share
        # transactions, and a 1000-item batch is one.
        def groups(srv):
            text = srv.request("GET", "/metrics").body.decode()
            count = [l for l in text.splitlines() if l.startswith("restd_commit_group_size_count")]
            total = [l for l in text.splitlines() if l.startswith("restd_commit_group_size_sum")]
            return int(float(count[0].split()[1])), int(float(total[0].split()[1]))
        with RestdServer(CONFIG) as srv:
            token = srv.as_admin()
            g0, j0 = groups(srv)
            done = concurrent_posts(srv, token)
            g1, j1 = groups(srv)
            self.assertEqual(len(done), 160)
            self.assertEqual(j1 - j0, 160)
            self.assertLess(g1 - g0, 160, f"{g1 - g0} transactions for 160 writes")
            print(f"\n{ENGINE}: 160 concurrent durable writes in {g1 - g0} transactions", file=sys.stderr)
            items = [{"name": f"bulk {i}", "n": i} for i in range(1000)]
            r = srv.request("POST", "/api/v2/things", body=json.dumps(items),
                            headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
            self.assertEqual(r.status, 201, r)
            g2, j2 = groups(srv)
            self.assertEqual((g2 - g1, j2 - j1), (1, 1))  # one job, one transaction, one commit
            self.assertEqual(srv.sql('SELECT count(*) FROM "things"'), [("1160",)])

    @sqlite_only
    def test_a_thousand_item_batch_is_one_commit(self):
        # Issue #6 item 6: one transaction and one commit (one fsync) for the
        # whole batch, not one per item.
        with RestdServer(CONFIG) as srv:
            token = srv.as_admin()
            before = wal_commits(srv.db_path + "-wal")
            items = [{"name": f"bulk {i}", "n": i} for i in range(1000)]
            r = srv.request("POST", "/api/v2/things", body=json.dumps(items),
                            headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(len(r.json()["data"]), 1000)
            self.assertEqual(wal_commits(srv.db_path + "-wal") - before, 1)
            db = sqlite3.connect(srv.db_path)
            self.assertEqual(db.execute('SELECT count(*) FROM "things"').fetchone()[0], 1000)
            db.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
