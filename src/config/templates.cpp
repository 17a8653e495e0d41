// The configurations `restd serve --demo` runs and `restd init` writes.
#include "config/config.h"

namespace restd {

std::string_view demoConfigToml() {
  return R"toml(# Built-in configuration of `restd serve --demo`.
[server]
listen = "127.0.0.1:8080"

[storage]
url = "sqlite:restd-demo.db"

[collections.things.fields]
name  = { type = "string", required = true }
price = { type = "number" }
tags  = { type = "array" }

[collections.announcements]
slug_from = "name"
anonymous_read = true

[collections.announcements.fields]
name    = { type = "string", required = true }
content = { type = "string" }

[collections.connections]
visibility = "owner"

[collections.connections.fields]
plugin = { type = "string" }
token  = { type = "string" }
)toml";
}

std::string_view initConfigToml() {
  return R"toml(# restd configuration. Every key is optional; the values shown are the defaults.
# Reference: docs/configuration.md

[server]
listen = "127.0.0.1:8080"      # HOST:PORT; RESTD_LISTEN and --listen override it
base_path = "/api/v2"          # every API URL is relative to this
threads = 0                    # I/O threads; 0 = one per core
envelope = "standard"          # default envelope profile
timezone = "UTC"               # "UTC", "+HH:MM", or an IANA name such as "Europe/Paris"
max_body_bytes = 1048576       # larger request bodies get 413
max_batch_items = 1000         # larger batches get 413
docs_url = ""                  # base of error `info` links; "" = this server's /docs/errors
max_in_flight = 4096           # requests in flight above this get 503 overloaded (never /healthz)
max_connections_per_client = 256  # open connections per client address; more get 503; 0 = no cap
header_timeout = "10s"         # request line + headers must arrive within this (else 408)
idle_timeout = "60s"           # idle keep-alive connections are closed after this
drain_timeout = "30s"          # on SIGTERM, in-flight requests get this long to finish
access_log = "stdout"          # "stdout", "off", or a file path (JSON lines)
metrics = true                 # GET /metrics in the Prometheus text format; false = 404

[storage]
url = "sqlite:restd.db"        # or "sqlite::memory:"; RESTD_STORAGE and --storage override it
durability = "full"            # "full": a 2xx write is on disk before the reply; "normal": faster, may lose the last writes on power loss
pool_size = 10                 # PostgreSQL: most connections one node uses for requests (plus one writer)

[auth]
token_ttl = "24h"
basic = true                   # allow Authorization: Basic
lockout_attempts = 5           # failed logins per user name or address ...
lockout_window = "15m"         # ... within this window lock further attempts out (429)

[rate_limit]
requests_per_minute = 600      # per user, or per address when anonymous; 0 = off

[cors]
allow_origins = []             # e.g. ["https://app.example.com"] or ["*"]

[events]                       # the change feed, GET /api/v2/{collection}/events
retention = "24h"              # how long Last-Event-ID can resume from
max_subscribers = 1000         # open streams per node; more get 503
heartbeat = "15s"              # a comment line after this much quiet keeps proxies from closing the stream

# An example collection: served at /api/v2/things
[collections.things]
# singular = "thing"           # default: the name without a trailing "s"
# id_prefix = "thing"          # ids look like thing_01jdq6x9k8f3t5v7w2y4z6a8b0
# slug_from = "name"           # adds a unique `slug` derived from `name`
visibility = "public"          # "owner": other users' records are invisible (404)
anonymous_read = false         # true: GET works without a token
extra_fields = "reject"        # "allow" keeps undeclared fields

[collections.things.fields]
name  = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0 }
tags  = { type = "array" }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
)toml";
}

}  // namespace restd
