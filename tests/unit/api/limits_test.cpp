// The rate limiter's bucket arithmetic (local mode, on a real in-memory
// SQLite store, with an injected clock) and the /metrics text format.
#include <gtest/gtest.h>

#include "api/rate_limiter.h"
#include "common/metrics.h"
#include "config/config.h"

namespace {

using Clock = restd::api::RateLimiter::Clock;
using namespace std::chrono_literals;

std::unique_ptr<restd::store::Store> memoryStore() {
  restd::ConfigErrors errors;
  auto config = restd::parseConfig("[storage]\nurl = \"sqlite::memory:\"\n", "t.toml", errors);
  std::string error;
  auto s = restd::store::openStore(*config, error);
  bool destructive = false;
  EXPECT_TRUE(s && s->migrate(*config, false, destructive, error)) << error;
  return s;
}

TEST(RateLimiterTest, ABucketEmptiesRefillsContinuouslyAndSaysWhen) {
  auto store = memoryStore();
  restd::api::RateLimiter limiter(60, *store);  // one token a second
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 60; ++i) {
    auto d = limiter.take("user:a", t0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 59 - i);
    EXPECT_EQ(d.limit, 60);
    EXPECT_EQ(d.resetSeconds, i + 1);  // seconds until full again
  }
  auto refused = limiter.take("user:a", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retryAfter, 1);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_FALSE(limiter.take("user:a", t0 + 500ms).allowed);  // refused attempts cost nothing more
  EXPECT_TRUE(limiter.take("user:a", t0 + 1001ms).allowed);
  EXPECT_FALSE(limiter.take("user:a", t0 + 1100ms).allowed);
  EXPECT_TRUE(limiter.take("user:b", t0).allowed);  // keys are independent
  // After a minute any bucket is full again (and may be forgotten).
  limiter.returnIdle(t0 + 2min);
  EXPECT_EQ(limiter.take("user:a", t0 + 2min).remaining, 59);
}

TEST(RateLimiterTest, SlowLimitsWaitLongerAndZeroIsOff) {
  auto store = memoryStore();
  restd::api::RateLimiter slow(6, *store);  // one token per 10 s
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(slow.take("addr:1", t0).allowed);
  EXPECT_EQ(slow.take("addr:1", t0).retryAfter, 10);
  EXPECT_EQ(slow.take("addr:1", t0 + 7s).retryAfter, 3);
  restd::api::RateLimiter off(0, *store);
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.take("addr:1", t0).allowed);
  EXPECT_EQ(restd::api::RateLimiter(100000, *store).chunk(), 1000);
  EXPECT_EQ(restd::api::RateLimiter(60, *store).chunk(), 3);
  EXPECT_EQ(restd::api::RateLimiter(10, *store).chunk(), 1);
}

TEST(MetricsTest, CountsRenderAsPrometheusText) {
  restd::Metrics m({"none", "/things"});
  m.observe(1, "GET", 200, 0, 100, 0.0007);
  m.observe(1, "GET", 200, 0, 50, 0.2);
  m.observe(1, "BREW", 418, 10, 0, 20);
  m.observe(7, "GET", 404, 0, 0, 0.0001);  // an unknown tag counts as "none"
  m.add(restd::Metrics::Counter::rateLimited, 2);
  m.addGauge({"restd_test_gauge", "A test gauge.", "gauge", [] { return 1.5; }});
  std::string text = m.render();
  EXPECT_NE(text.find("restd_http_requests_total{route=\"/things\",method=\"GET\",code=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("restd_http_requests_total{route=\"/things\",method=\"other\",code=\"other\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("restd_http_requests_total{route=\"none\",method=\"GET\",code=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("restd_http_request_duration_seconds_bucket{route=\"/things\",le=\"0.0005\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("restd_http_request_duration_seconds_bucket{route=\"/things\",le=\"0.001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("restd_http_request_duration_seconds_bucket{route=\"/things\",le=\"10\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("restd_http_request_duration_seconds_bucket{route=\"/things\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("restd_http_request_duration_seconds_count{route=\"/things\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("restd_http_response_bytes_total 150\n"), std::string::npos);
  EXPECT_NE(text.find("restd_http_request_bytes_total 10\n"), std::string::npos);
  EXPECT_NE(text.find("restd_rate_limited_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE restd_test_gauge gauge\nrestd_test_gauge 1.5\n"), std::string::npos);
}

}  // namespace
