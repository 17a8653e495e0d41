#include "common/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace restd {

namespace {

constexpr std::array<std::string_view, 8> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                                                      "other"};
// Every status restd sends; anything else would be counted as "other".
constexpr std::array<int, 28> kStatuses = {200, 201, 204, 207, 304, 400, 401, 403, 404, 405,
                                           406, 408, 409, 411, 412, 413, 414, 415, 417, 422,
                                           429, 431, 500, 501, 502, 503, 505, 0};
// Latency buckets in seconds: from a cached read to a slow batch.
constexpr std::array<double, 14> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,    10};

unsigned methodIndex(std::string_view m) {
  for (unsigned i = 0; i + 1 < kMethods.size(); ++i)
    if (kMethods[i] == m) return i;
  return kMethods.size() - 1;
}

unsigned statusIndex(int status) {
  for (unsigned i = 0; i + 1 < kStatuses.size(); ++i)
    if (kStatuses[i] == status) return i;
  return kStatuses.size() - 1;
}

// Prometheus label values escape backslash, quote and newline.
std::string labelValue(std::string_view v) {
  std::string o;
  for (char c : v) {
    if (c == '\\' || c == '"') o.push_back('\\');
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o.push_back(c);
  }
  return o;
}

void appendNumber(std::string& out, double v) {
  char buf[32];
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

struct alignas(64) Metrics::Shard {
  std::unique_ptr<std::atomic<uint64_t>[]> requests;   // [route][method][status]
  std::unique_ptr<std::atomic<uint64_t>[]> latency;    // [route][bucket], not cumulative
  std::unique_ptr<std::atomic<uint64_t>[]> latencyMicros;  // [route]
  std::atomic<uint64_t> requestBytes{0};
  std::atomic<uint64_t> responseBytes{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::count)> counters{};
};

Metrics::Metrics(std::vector<std::string> routes) : routes_(std::move(routes)), shards_(new Shard[kShards]) {
  size_t r = routes_.size();
  for (size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    s.requests.reset(new std::atomic<uint64_t>[r * kMethods.size() * kStatuses.size()]());
    s.latency.reset(new std::atomic<uint64_t>[r * (kLatencyBounds.size() + 1)]());
    s.latencyMicros.reset(new std::atomic<uint64_t>[r]());
  }
}

Metrics::~Metrics() = default;

Metrics::Shard& Metrics::shardForThisThread() {
  static std::atomic<unsigned> next{0};
  thread_local unsigned mine = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[mine];
}

size_t Metrics::cellIndex(unsigned route, unsigned method, unsigned status) const {
  return (static_cast<size_t>(route) * kMethods.size() + method) * kStatuses.size() + status;
}

void Metrics::observe(unsigned routeTag, std::string_view method, int status, uint64_t requestBytes,
                      uint64_t responseBytes, double seconds) {
  if (routeTag >= routes_.size()) routeTag = 0;
  Shard& s = shardForThisThread();
  constexpr auto relaxed = std::memory_order_relaxed;
  s.requests[cellIndex(routeTag, methodIndex(method), statusIndex(status))].fetch_add(1, relaxed);
  size_t bucket = std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds) - kLatencyBounds.begin();
  s.latency[routeTag * (kLatencyBounds.size() + 1) + bucket].fetch_add(1, relaxed);
  s.latencyMicros[routeTag].fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e6), relaxed);
  s.requestBytes.fetch_add(requestBytes, relaxed);
  s.responseBytes.fetch_add(responseBytes, relaxed);
}

void Metrics::add(Counter c, uint64_t n) {
  shardForThisThread().counters[static_cast<size_t>(c)].fetch_add(n, std::memory_order_relaxed);
}

void Metrics::addGauge(Gauge g) { gauges_.push_back(std::move(g)); }
void Metrics::addHistogram(ExternalHistogram h) { histograms_.push_back(std::move(h)); }

std::string Metrics::render() const {
  auto sum = [&](auto get) {
    uint64_t total = 0;
    for (size_t i = 0; i < kShards; ++i) total += get(shards_[i]).load(std::memory_order_relaxed);
    return total;
  };
  std::string out;
  out.reserve(16384);

  header(out, "restd_http_requests_total", "HTTP requests answered, by route, method and status.", "counter");
  for (unsigned r = 0; r < routes_.size(); ++r)
    for (unsigned m = 0; m < kMethods.size(); ++m)
      for (unsigned st = 0; st < kStatuses.size(); ++st) {
        size_t cell = cellIndex(r, m, st);
        uint64_t n = sum([&](const Shard& s) -> const std::atomic<uint64_t>& { return s.requests[cell]; });
        if (n == 0) continue;
        out.append("restd_http_requests_total{route=\"").append(labelValue(routes_[r]));
        out.append("\",method=\"").append(kMethods[m]).append("\",code=\"");
        out.append(kStatuses[st] == 0 ? std::string("other") : std::to_string(kStatuses[st])).append("\"} ");
        appendNumber(out, static_cast<double>(n));
        out.push_back('\n');
      }

  header(out, "restd_http_request_duration_seconds",
         "Time from a request's first byte to the last byte of its reply, by route.", "histogram");
  for (unsigned r = 0; r < routes_.size(); ++r) {
    uint64_t cumulative = 0;
    std::string label = "route=\"" + labelValue(routes_[r]) + "\"";
    std::vector<uint64_t> counts(kLatencyBounds.size() + 1);
    for (size_t b = 0; b <= kLatencyBounds.size(); ++b)
      counts[b] = sum([&](const Shard& s) -> const std::atomic<uint64_t>& {
        return s.latency[r * (kLatencyBounds.size() + 1) + b];
      });
    uint64_t total = 0;
    for (uint64_t c : counts) total += c;
    if (total == 0) continue;
    for (size_t b = 0; b <= kLatencyBounds.size(); ++b) {
      cumulative += counts[b];
      out.append("restd_http_request_duration_seconds_bucket{").append(label).append(",le=\"");
      appendNumber(out, b < kLatencyBounds.size() ? kLatencyBounds[b] : INFINITY);
      out.append("\"} ");
      appendNumber(out, static_cast<double>(cumulative));
      out.push_back('\n');
    }
    uint64_t micros = sum([&](const Shard& s) -> const std::atomic<uint64_t>& { return s.latencyMicros[r]; });
    out.append("restd_http_request_duration_seconds_sum{").append(label).append("} ");
    appendNumber(out, static_cast<double>(micros) / 1e6);
    out.append("\nrestd_http_request_duration_seconds_count{").append(label).append("} ");
    appendNumber(out, static_cast<double>(total));
    out.push_back('\n');
  }

  header(out, "restd_http_request_bytes_total", "Request body bytes received.", "counter");
  out.append("restd_http_request_bytes_total ");
  appendNumber(out, static_cast<double>(sum([](const Shard& s) -> const std::atomic<uint64_t>& { return s.requestBytes; })));
  out.push_back('\n');
  header(out, "restd_http_response_bytes_total", "Response body bytes sent (after compression).", "counter");
  out.append("restd_http_response_bytes_total ");
  appendNumber(out, static_cast<double>(sum([](const Shard& s) -> const std::atomic<uint64_t>& { return s.responseBytes; })));
  out.push_back('\n');

  struct Named {
    Counter c;
    const char* name;
    const char* help;
  };
  for (const Named& n : {Named{Counter::rateLimited, "restd_rate_limited_total", "Requests refused by the rate limit (429)."},
                         Named{Counter::storageErrors, "restd_storage_errors_total",
                               "Storage failures met by requests and commits."}}) {
    header(out, n.name, n.help, "counter");
    out.append(n.name).push_back(' ');
    size_t i = static_cast<size_t>(n.c);
    appendNumber(out, static_cast<double>(sum([&](const Shard& s) -> const std::atomic<uint64_t>& { return s.counters[i]; })));
    out.push_back('\n');
  }

  for (const Gauge& g : gauges_) {
    header(out, g.name, g.help, g.type);
    out.append(g.name).push_back(' ');
    appendNumber(out, g.read());
    out.push_back('\n');
  }

  std::vector<double> bounds;
  std::vector<uint64_t> cumulative;
  for (const ExternalHistogram& h : histograms_) {
    double hsum = 0;
    uint64_t count = 0;
    bounds.clear();
    cumulative.clear();
    h.read(bounds, cumulative, hsum, count);
    header(out, h.name, h.help, "histogram");
    for (size_t b = 0; b < bounds.size() && b < cumulative.size(); ++b) {
      out.append(h.name).append("_bucket{le=\"");
      appendNumber(out, bounds[b]);
      out.append("\"} ");
      appendNumber(out, static_cast<double>(cumulative[b]));
      out.push_back('\n');
    }
    out.append(h.name).append("_bucket{le=\"+Inf\"} ");
    appendNumber(out, static_cast<double>(count));
    out.append("\n").append(h.name).append("_sum ");
    appendNumber(out, hsum);
    out.append("\n").append(h.name).append("_count ");
    appendNumber(out, static_cast<double>(count));
    out.push_back('\n');
  }
  return out;
}

}  // namespace restd
