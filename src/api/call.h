// One request as the Service sees it. Private to api/.
#pragma once

#include "api/service.h"

namespace restd::api {

struct Service::Call {
  const http::Request& request;   // valid until `respond` is called
  http::Respond respond;
  RouteMatch match;
  QueryParams query;
  const render::Profile* profile = nullptr;
  render::Format format = render::Format::json;
  const CollectionSpec* collection = nullptr;  // for collection and record routes
  const CollectionRules* rules = nullptr;

  Call(const http::Request& r, http::Respond done) : request(r), respond(std::move(done)) {}
};

}  // namespace restd::api
