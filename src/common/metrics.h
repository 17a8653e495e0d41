// Request metrics for GET /metrics (Prometheus text format 0.0.4).
//
// The http layer observes every request once, when its reply has been sent
// (route tag, method, status, bytes, duration); the api layer names the
// route tags and adds its own counters and the gauges it reads at scrape
// time. Counting is lock-free: each thread counts into one of kShards
// cache-line-separated shards, and a scrape adds the shards up, so I/O
// threads never share a counter's cache line on the hot path.
//
// Thread-safe: observe() and the counters from any thread; render() too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace restd {

class Metrics {
 public:
  // `routes`: the label of each route tag (tag 0 is for requests no route
  // took: malformed, unknown paths).
  explicit Metrics(std::vector<std::string> routes);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void observe(unsigned routeTag, std::string_view method, int status, uint64_t requestBytes,
               uint64_t responseBytes, double seconds);

  enum class Counter { rateLimited, storageErrors, count };
  void add(Counter c, uint64_t n = 1);

  // A value read when /metrics is scraped (in flight, pool use, queue depth).
  struct Gauge {
    std::string name;  // full metric name, e.g. "restd_http_requests_in_flight"
    std::string help;
    std::string type;  // "gauge" or "counter"
    std::function<double()> read;
  };
  // Register gauges before the server starts; not thread-safe against render().
  void addGauge(Gauge g);
  // A histogram kept by someone else (commit group sizes): upper bounds and
  // cumulative counts are read at scrape time.
  struct ExternalHistogram {
    std::string name;
    std::string help;
    std::function<void(std::vector<double>& bounds, std::vector<uint64_t>& cumulative, double& sum,
                       uint64_t& count)> read;
  };
  void addHistogram(ExternalHistogram h);

  std::string render() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Shard;
  static constexpr size_t kShards = 8;
  Shard& shardForThisThread();
  size_t cellIndex(unsigned route, unsigned method, unsigned status) const;

  std::vector<std::string> routes_;
  std::unique_ptr<Shard[]> shards_;
  std::vector<Gauge> gauges_;
  std::vector<ExternalHistogram> histograms_;
};

}  // namespace restd
