// Micro-benchmarks of restd's hot paths: routing, rendering a record in each
// envelope profile (JSON and XML), the token's hash, and the whole token
// check against a real SQLite store.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <future>

#include "api/router.h"
#include "auth/authenticator.h"
#include "auth/credentials.h"
#include "config/config.h"
#include "render/profile.h"
#include "store/store.h"

namespace {

using namespace restd;

void BM_Route(benchmark::State& state) {
  api::Router router("/api/v2", {"things", "people", "orders"},
                     {{api::RouteId::healthz, false, {"healthz"}, api::kGet},
                      {api::RouteId::index, true, {}, api::kGet},
                      {api::RouteId::collection, true, {"{collection}"}, api::kGet | api::kPost},
                      {api::RouteId::record, true, {"{collection}", "{id}"}, api::kGet | api::kPut}});
  for (auto _ : state) benchmark::DoNotOptimize(router.match("GET", "/api/v2/things/thing_01m85rt1pbe3gsavxdm4sv7fxy"));
}
BENCHMARK(BM_Route);

void BM_RenderRecord(benchmark::State& state, const char* profile, render::Format format) {
  render::Reply reply;
  reply.kind = render::ReplyKind::record;
  reply.collection = "things";
  reply.singular = "thing";
  static const std::vector<std::string> kDates{"createdAt", "updatedAt"};
  reply.dateFields = &kDates;
  reply.data.Parse(R"({"id":"thing_01m85rt1pbe3gsavxdm4sv7fxy","name":"My first thing","price":9.99,)"
                   R"("tags":["a","b"],"createdAt":"2026-11-24T10:00:00+00:00","updatedAt":"2026-11-24T10:00:00+00:00",)"
                   R"("version":1,"owner":"user_01m85scda7ejp8dahdp056ybzj"})");
  render::RenderContext ctx;
  ctx.requestId = "k2x0000000000000000";
  ctx.now = std::chrono::system_clock::now();
  ctx.format = format;
  ctx.method = "GET";
  ctx.resource = "/things/thing_01m85rt1pbe3gsavxdm4sv7fxy";
  const render::Profile* p = render::findProfile(profile);
  for (auto _ : state) benchmark::DoNotOptimize(render::renderReply(*p, reply, ctx));
}
BENCHMARK_CAPTURE(BM_RenderRecord, standard_json, "standard", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, standard_xml, "standard", render::Format::xml);
BENCHMARK_CAPTURE(BM_RenderRecord, problem_json, "problem", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, request_result_json, "request-result", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, success_flag_json, "success-flag", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, plain_json, "plain", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, data_meta_json, "data-meta", render::Format::json);
BENCHMARK_CAPTURE(BM_RenderRecord, result_metadata_json, "result-metadata", render::Format::json);

void BM_TokenHash(benchmark::State& state) {
  auth::initCrypto();
  std::string token = auth::randomHex(20);
  for (auto _ : state) benchmark::DoNotOptimize(auth::sha256Hex(token));
}
BENCHMARK(BM_TokenHash);

// Authenticator::checkToken for a logged-in token, as every request with a
// Bearer token does it: the hash (cached per thread), then the owner from a
// SQLite reader (cached per connection and read snapshot).
void BM_TokenCheck(benchmark::State& state) {
  auth::initCrypto();
  std::string path = "/tmp/restd-bench-token-" + std::to_string(getpid()) + ".db";
  ConfigErrors errors;
  auto config = parseConfig("[storage]\nurl = \"sqlite:" + path + "\"\n[collections.things.fields]\nname = { type = \"string\" }\n",
                            "<bench>", errors);
  std::string error, key;
  auto store = config ? store::openStore(*config, error) : nullptr;
  bool destructive = false;
  if (!store || !store->migrate(*config, false, destructive, error) ||
      auth::addUser(*store, "bench", auth::Role::admin, "bench-pw").failed() ||
      auth::createApiKey(*store, "bench", key).failed()) {
    state.SkipWithError("cannot prepare the store");
    return;
  }
  {
    auth::Authenticator authn(*config, *store);
    std::promise<std::string> token;
    authn.login("bench", key, "bench-pw", "127.0.0.1", [&](auth::LoginResult r) { token.set_value(r.token); });
    std::string t = token.get_future().get();
    for (auto _ : state) benchmark::DoNotOptimize(authn.checkToken(t));
    authn.shutdown();
  }
  store->close();
  store.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}
BENCHMARK(BM_TokenCheck);

}  // namespace

BENCHMARK_MAIN();
