#!/usr/bin/env bash
# make cluster: a private PostgreSQL, two restd nodes on it, and nginx
# round-robin in front on 127.0.0.1:8080. Ctrl-C stops everything.
#   scripts/cluster.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root="$(cd "$(dirname "$0")/.." && pwd)"
restd="$root/$build/restd"
work=$(mktemp -d /tmp/restd-cluster-XXXXXX)
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "cluster: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$root/scripts/pg_cluster.sh" stop "$work/pg" || true
  rm -rf "$work"
  echo "cluster: stopped"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

base=$(bash "$root/scripts/pg_cluster.sh" start "$work/pg")
psql "$base/postgres" -qAtX -c 'CREATE DATABASE restd' >/dev/null
url="$base/restd"

# Node 1 creates the demo account; node 2 then finds it there.
ports=()
for n in 1 2; do
  port=$(free_port)
  ports+=("$port")
  "$restd" serve --demo --listen "127.0.0.1:$port" --storage "$url" >"$work/node$n.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening on" "$work/node$n.log" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/node$n.log" >&2; exit 1; }
    sleep 0.1
  done
done

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  upstream restd {
    server 127.0.0.1:${ports[0]};
    server 127.0.0.1:${ports[1]};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:8080;
    client_max_body_size 2m;
    location / {
      proxy_pass http://restd;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
pids+=($!)
sleep 0.5
kill -0 "${pids[-1]}" 2>/dev/null || { echo "cluster: nginx did not start (is port 8080 free?)" >&2; cat "$work/nginx-error.log" >&2; exit 1; }

cat <<EOF
cluster: running (Ctrl-C stops everything)
  PostgreSQL 15   $url   (data in $(cat "$work/pg/datadir"))
  restd node 1    http://127.0.0.1:${ports[0]}   log $work/node1.log
  restd node 2    http://127.0.0.1:${ports[1]}   log $work/node2.log
  nginx           http://127.0.0.1:8080  -> both nodes, round-robin

Try: curl -i -X POST http://127.0.0.1:8080/api/v2/authenticate -d 'userName=api&apiKey=demo-key&password=api'
     (then repeat any request: nginx alternates the nodes, and they answer as one server)
EOF
wait -n "${pids[@]}" || true
echo "cluster: a process ended; see $work/*.log" >&2
