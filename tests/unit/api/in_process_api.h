// The API without sockets: an api::Service over a real SQLite store in a
// temporary directory, called the way http::Server calls it. A request is
// an api::Request whose views point into the call's own strings; the fake
// responder waits for the one Response (a write answers from the store's
// writer thread) and runs its render hook, as the server does on the
// connection's thread. Conditional requests (304) and gzip belong to the
// HTTP layer and are not applied here.
// One InProcessApi per test; call() may be used from one thread at a time.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/service.h"
#include "auth/authenticator.h"
#include "common/strings.h"
#include "config/config.h"
#include "store/store.h"
#include "support/temp_sqlite_store.h"

namespace restd::api::testing {

struct Exchange {
  int status = 0;                 // 0: no reply came (the test has failed)
  std::string reasonPhrase;       // "" = the standard phrase
  std::string contentType;
  std::vector<std::pair<std::string, std::string>> headers;  // as the handler set them, `headerLines` last
  std::string body;
  std::shared_ptr<Stream> stream;  // a streamed reply's (the change feed), else null

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return {};
  }
  // The body parsed; an empty document (IsNull) when it is not JSON.
  rapidjson::Document json() const {
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    if (d.HasParseError()) d.SetNull();
    return d;
  }
};

class InProcessApi {
 public:
  explicit InProcessApi(std::string_view toml) {
    ConfigErrors errors;
    auto parsed = parseConfig(toml, "test.toml", errors);
    if (!parsed) throw std::runtime_error("the test's config does not load: " + errors.messages.front());
    config_ = std::move(*parsed);
    // As the e2e harness does: rate limits only for tests that configure them.
    if (toml.find("[rate_limit]") == std::string_view::npos) config_.rateLimit.requestsPerMinute = 0;
    storage_ = std::make_unique<restd::testing::TempSqliteStore>(config_, "api");
    auth_ = std::make_unique<auth::Authenticator>(config_, store());
    service_ = std::make_unique<Service>(config_, store(), *auth_);
  }

  ~InProcessApi() {
    service_->shutdown();
    service_.reset();
    auth_.reset();
    storage_.reset();
  }

  InProcessApi(const InProcessApi&) = delete;
  InProcessApi& operator=(const InProcessApi&) = delete;

  const Config& config() const { return config_; }
  store::Store& store() { return storage_->store(); }

  // One request through Service::handle(); waits for its reply.
  Exchange call(std::string method, std::string target,
                std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = {}) {
    Request request;
    request.method = method;
    request.target = target;
    std::string_view t = request.target;
    size_t q = t.find('?');
    request.path = t.substr(0, q);
    request.query = q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
    for (const auto& [k, v] : headers) request.headers.emplace_back(k, v);
    request.body = body;
    request.requestId = kRequestId;
    request.clientAddress = "127.0.0.1";
    auto reply = std::make_shared<std::promise<Response>>();
    std::future<Response> done = reply->get_future();
    service_->handle(request, [reply](Response r) { reply->set_value(std::move(r)); });
    Exchange out;
    if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      // The views above die with this frame: a reply after this point
      // would read freed memory, so the test cannot go on.
      ADD_FAILURE() << method << " " << target << ": no reply in 30 s";
      std::abort();
    }
    Response r = done.get();
    if (r.render) r.render(r);
    out.status = r.status;
    out.reasonPhrase = std::move(r.reasonPhrase);
    out.contentType = std::move(r.contentType);
    out.headers = std::move(r.headers);
    // And the lines the handler formatted itself ("Name: value\r\n" each), as
    // the server sends them after the others.
    for (std::string_view lines = r.headerLines; !lines.empty();) {
      size_t end = lines.find("\r\n");
      std::string_view line = lines.substr(0, end);
      lines = end == std::string_view::npos ? std::string_view{} : lines.substr(end + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      out.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    }
    out.body = std::move(r.body);
    out.stream = std::move(r.stream);
    return out;
  }

  // An API key, as `restd apikey create` makes one.
  std::string apiKey(const std::string& label) {
    std::string key;
    if (Status e = auth::createApiKey(store(), label, key)) throw std::runtime_error(e.detail);
    return key;
  }
  void addUser(const std::string& name, auth::Role role, const std::string& password) {
    if (Status e = auth::addUser(store(), name, role, password)) throw std::runtime_error(e.detail);
  }
  // POST /authenticate; the access token, or "" (with a test failure).
  std::string login(const std::string& user, const std::string& password, const std::string& key) {
    Exchange r = call("POST", config_.server.basePath + "/authenticate",
                      {{"Content-Type", "application/json"}},
                      R"({"userName":")" + user + R"(","apiKey":")" + key + R"(","password":")" + password + R"("})");
    rapidjson::Document d = r.json();
    if (r.status != 200 || !d.IsObject() || !d.HasMember("data") || !d["data"].HasMember("access_token")) {
      ADD_FAILURE() << "login: " << r.status << " " << r.body;
      return {};
    }
    return d["data"]["access_token"].GetString();
  }

  static constexpr std::string_view kRequestId = "0123456789abcdefghij";

 private:
  Config config_;
  std::unique_ptr<restd::testing::TempSqliteStore> storage_;
  std::unique_ptr<auth::Authenticator> auth_;
  std::unique_ptr<Service> service_;
};

}  // namespace restd::api::testing
