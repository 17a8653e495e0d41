// Envelope profiles (SPEC §6): each lays a Reply out on the wire.
// Profiles are stateless singletons, safe to use from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "render/reply.h"

namespace restd::render {

enum class Format { json, xml };

// meta.rateLimit (SPEC §6), when rate limiting is on.
struct RateLimitMeta {
  int64_t limit = 0;
  int64_t remaining = 0;
  int64_t reset = 0;  // delta-seconds
};

struct RenderContext {
  std::string_view requestId;
  SysTime now;
  Format format = Format::json;
  bool pretty = false;         // indented, ending in a newline (?pretty)
  std::string_view resource;   // path below base_path as requested, without the query
  std::string_view instance;   // full request path (problem profile)
  std::string_view docsUrl;    // server.docs_url
  std::string_view method;     // the request's method (GET replies are bare in some profiles)
  std::optional<RateLimitMeta> rateLimit;
};

struct Rendered {
  std::string body;
  std::string contentType;
  std::string reasonPhrase;  // "" = standard phrase
};

class Profile {
 public:
  virtual ~Profile() = default;
  virtual std::string_view name() const = 0;
  virtual void render(const Reply& reply, const RenderContext& ctx, Rendered& out) const = 0;
};

// The profile called `name`, or nullptr when there is none.
const Profile* findProfile(std::string_view name);
// Every profile's name, `standard` first.
std::vector<std::string_view> profileNames();

// Renders `reply` with `profile`; passes ReplyKind::document through and
// leaves ReplyKind::empty bodiless.
Rendered renderReply(const Profile& profile, const Reply& reply, const RenderContext& ctx);

// A record (as handlers build them for a Reply's data) as the `standard`
// profile renders it, as JSON text: the `data:` of a change-feed event
// (SPEC §10 "Events").
std::string renderStandardRecord(const rapidjson::Value& record);

// Writes one error object (SPEC §8 key order) — shared by every profile.
class TreeWriter;
void writeErrorObject(TreeWriter& w, const ErrorObject& e, std::string_view docsUrl);

}  // namespace restd::render
