// ChangeFeed (change_feed.h), and the events writes add to the log
// (eventOf). The streaming itself is the EventHub's (api/event_hub.h) and the
// http layer's (Stream).
#include "api/change_feed.h"

#include <charconv>

#include "api/call.h"
#include "api/record_helpers.h"
#include "api/reply_writer.h"
#include "common/time.h"

namespace restd::api {

using render::Reply;

namespace {

// HEAD has GET's headers and no stream: nothing subscribes.
class NoStream final : public Stream {
 public:
  void start(std::function<void()>) override {}
  bool take(std::string&) override { return false; }
  void finish() override {}
};

// Last-Event-ID: a decimal event id; "" counts as none (SPEC §10).
bool parseEventId(std::string_view v, std::optional<int64_t>& out) {
  v = trim(v);
  if (v.empty()) return true;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 0) return false;
  out = n;
  return true;
}

}  // namespace

store::StoredEvent eventOf(const CollectionSpec& c, std::string_view kind, const store::Record& r) {
  // A small pool on the stack: a Reply's Document would start with a 64 KiB
  // chunk, allocated and freed for every record of a batch on the writer.
  char buffer[4096];
  rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof buffer);
  rapidjson::Value data;
  recordToJson(c, r, nullptr, data, pool);
  store::StoredEvent e;
  e.collection = c.name;
  e.kind = kind;
  e.recordId = r.id;
  e.owner = r.owner;
  e.data = render::renderStandardRecord(data);
  e.data.shrink_to_fit();  // kept until the job's events are written
  e.at = nowMillis();
  return e;
}

std::function<bool()> ChangeFeed::stillAllowed(const Service::Call& call) const {
  const auth::Principal* who = call.principal();
  if (!who) return nullptr;  // anonymous: nothing to lose
  // A revoked token, a removed user or a changed role ends the stream.
  std::string token = call.token, userId = who->userId, userName = who->userName;
  auth::Role role = who->role;
  return [this, token, userId, userName, role] {
    if (!token.empty()) {
      auth::Identity now = auth_.checkToken(token);
      if (now.kind == auth::Identity::Kind::storageDown) return true;  // unknown: keep it for now
      return now.kind == auth::Identity::Kind::user && now.principal.userId == userId && now.principal.role == role;
    }
    store::User u;  // Basic: the user must still exist with the same role
    Status e = store_.findUser(userName, u);
    if (e && e.code != StatusCode::notFound) return true;
    return !e && u.id == userId && auth::parseRole(u.role) == role;
  };
}

void ChangeFeed::subscribe(const Service::CallPtr& call) const {
  if (auto e = onlyParams(call->query, {"access_token", "envelope"})) return replies_.answer(*call, Reply::failure(*e));
  std::optional<int64_t> lastEventId;
  if (!parseEventId(call->request.header("Last-Event-ID"), lastEventId))
    return replies_.answer(*call, Reply::failure(ErrorObject(
                                      Reason::invalid_parameter, "Last-Event-ID must be the id of an event: a decimal number.")));
  Response res;
  res.status = 200;
  res.contentType = "text/event-stream";
  res.compressible = false;
  if (call->request.method == "HEAD") {
    res.stream = std::make_shared<NoStream>();
    return replies_.send(*call, std::move(res));
  }
  EventHub::Viewer viewer;
  viewer.collection = call->collection->name;
  if (call->collection->visibility == Visibility::owner && !call->isAdmin())
    viewer.owner = call->principal() ? call->principal()->userId : std::string();  // anonymous owns nothing
  viewer.stillAllowed = stillAllowed(*call);
  bool storageDown = false;
  auto stream = hub_.subscribe(std::move(viewer), lastEventId, storageDown);
  if (storageDown) return replies_.answer(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
  if (!stream) {
    Reply r = Reply::failure(ErrorObject(Reason::overloaded, "Too many change-feed streams are open; try again later."));
    r.header("Retry-After", "5");
    return replies_.answer(*call, std::move(r));
  }
  stream->heartbeatInterval = config_.heartbeat;
  res.stream = std::move(stream);
  replies_.send(*call, std::move(res));
}

}  // namespace restd::api
