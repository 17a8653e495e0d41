// The change feed's endpoint as a handler unit: GET /{collection}/events
// (SPEC §4, §10 "Events"). Given the events config, the store and the
// authenticator (a stream ends when its caller's access does), the hub
// that streams (event_hub.h) and the reply writer. What a write adds to the
// log is eventOf() (record_helpers.h). Thread-safe.
#pragma once

#include <functional>

#include "api/event_hub.h"
#include "api/service.h"
#include "auth/authenticator.h"
#include "config/config.h"
#include "store/store.h"

namespace restd::api {

class ReplyWriter;

class ChangeFeed {
 public:
  // Each must outlive this.
  ChangeFeed(const EventsConfig& config, store::Store& store, auth::Authenticator& authenticator, EventHub& hub,
             const ReplyWriter& replies)
      : config_(config), store_(store), auth_(authenticator), hub_(hub), replies_(replies) {}

  // Answers with a stream of the collection's events the caller may see,
  // from Last-Event-ID when it sends one; HEAD gets the headers only.
  void subscribe(const Service::CallPtr& call) const;

 private:
  // Whether the caller of `call` may still read: asked about once a second
  // while its stream is open.
  std::function<bool()> stillAllowed(const Service::Call& call) const;

  const EventsConfig& config_;
  store::Store& store_;
  auth::Authenticator& auth_;
  EventHub& hub_;
  const ReplyWriter& replies_;
};

}  // namespace restd::api
