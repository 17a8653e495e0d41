#include "render/profile.h"

#include "render/tree_writer.h"

#include <array>

namespace restd::render {

const Profile& standardProfile();
const Profile& problemProfile();
const Profile& requestResultProfile();
const Profile& successFlagProfile();
const Profile& plainProfile();
const Profile& dataMetaProfile();
const Profile& resultMetadataProfile();

namespace {
const std::array<const Profile*, 7>& allProfiles() {
  static const std::array<const Profile*, 7> all = {&standardProfile(),    &problemProfile(),  &requestResultProfile(),
                                                    &successFlagProfile(), &plainProfile(),    &dataMetaProfile(),
                                                    &resultMetadataProfile()};
  return all;
}
}  // namespace

const Profile* findProfile(std::string_view name) {
  for (const Profile* p : allProfiles())
    if (p->name() == name) return p;
  return nullptr;
}

std::vector<std::string_view> profileNames() {
  std::vector<std::string_view> names;
  for (const Profile* p : allProfiles()) names.push_back(p->name());
  return names;
}

Rendered renderReply(const Profile& profile, const Reply& reply, const RenderContext& ctx) {
  Rendered out;
  if (reply.kind == ReplyKind::document) {
    out.body = reply.documentBody;
    out.contentType = reply.documentType;
    return out;
  }
  if (reply.kind == ReplyKind::empty) return out;
  profile.render(reply, ctx, out);
  return out;
}

void writeErrorObject(TreeWriter& w, const ErrorObject& e, std::string_view docsUrl) {
  w.startObject();
  w.key("type");
  w.string(e.type());
  w.key("code");
  w.integer(e.status());
  w.key("reason");
  w.string(e.reasonName());
  w.key("message");
  w.string(e.message);
  if (e.description) {
    w.key("description");
    w.string(*e.description);
  }
  if (e.field) {
    w.key("field");
    w.string(*e.field);
  }
  if (!e.details.empty()) {
    w.key("details");
    w.startArray("detail");
    for (const auto& d : e.details) writeErrorObject(w, d, docsUrl);
    w.endArray();
  }
  w.key("info");
  w.string(errorInfoUrl(docsUrl, e.reason));
  w.endObject();
}

}  // namespace restd::render
