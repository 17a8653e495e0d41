#include "api/event_hub.h"

#include <algorithm>
#include <vector>

#include "common/time.h"

namespace restd::api {

using namespace std::chrono_literals;

namespace {

// The SSE text of one event: written once, appended to every subscriber's buffer.
std::string frame(const store::StoredEvent& e) {
  std::string f;
  f.reserve(e.data.size() + e.kind.size() + 40);
  f.append("id: ").append(std::to_string(e.seq)).append("\nevent: ").append(e.kind);
  f.append("\ndata: ").append(e.data).append("\n\n");
  return f;
}

// Sent first on every stream: how long a client waits before reconnecting.
constexpr std::string_view kRetry = "retry: 2000\n\n";

}  // namespace

// One stream. The hub's reader thread appends; the connection's thread takes.
class EventHub::Subscriber final : public Stream {
 public:
  Subscriber(Viewer v, int64_t cursor, bool catchingUp)
      : viewer(std::move(v)), cursor(cursor), catchingUp(catchingUp) {}

  void start(std::function<void()> wake) override {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
    if (!buffer_.empty() || ended_) wake_();
  }
  bool take(std::string& out) override {
    std::lock_guard lock(mutex_);
    out.append(buffer_);
    buffer_.clear();
    if (buffer_.capacity() > 4096) std::string().swap(buffer_);  // an idle stream holds no big buffer
    return !ended_;
  }
  void finish() override {
    std::lock_guard lock(mutex_);
    ended_ = true;
    gone_ = true;
    wake_ = nullptr;
  }

  // Appends `text`, or ends the stream (with a reconnect hint) when the
  // client is this far behind. Returns false once the stream has ended.
  bool push(std::string_view text) {
    std::lock_guard lock(mutex_);
    if (ended_) return false;
    if (buffer_.size() + text.size() > kMaxBuffered) {
      buffer_.append(": too far behind; reconnect with Last-Event-ID\nretry: 1000\n\n");
      ended_ = true;
    } else {
      buffer_.append(text);
    }
    if (wake_) wake_();
    return !ended_;
  }
  void end() {
    std::lock_guard lock(mutex_);
    ended_ = true;
    if (wake_) wake_();
  }
  bool gone() const {
    std::lock_guard lock(mutex_);
    return gone_ || ended_;
  }
  bool sees(const store::StoredEvent& e) const {
    // A reset (after a bulk import) concerns every viewer of the collection.
    return e.seq > cursor && e.collection == viewer.collection &&
           (!viewer.owner || *viewer.owner == e.owner || e.kind == "reset");
  }

  const Viewer viewer;
  int64_t cursor;   // the last seq this stream was given (or skipped); reader thread only
  bool catchingUp;  // reader thread only (set before the subscriber is shared)

 private:
  mutable std::mutex mutex_;
  std::string buffer_;           // guarded by mutex_
  bool ended_ = false;           // guarded by mutex_: nothing more will be appended
  bool gone_ = false;            // guarded by mutex_: the connection let go of it
  std::function<void()> wake_;   // guarded by mutex_
};

EventHub::EventHub(store::Store& store, const EventsConfig& config, Metrics* metrics)
    : store_(store), config_(config) {
  int64_t oldest = 0, newest = 0;
  if (!store_.eventBounds(oldest, newest)) head_ = newest;
  store_.onForeignEvents([this] { wake(); });
  if (metrics)
    metrics->addGauge({"restd_events_subscribers", "Open change-feed streams (GET /{collection}/events).", "gauge",
                       [this] { return static_cast<double>(count_.load(std::memory_order_relaxed)); }});
  prune();  // once at start, before any request; then every pruneInterval()
  reader_ = std::thread([this] { run(); });
}

std::chrono::seconds EventHub::pruneInterval() const {
  // Often enough that nothing outlives the retention by more than half of it.
  return std::clamp<std::chrono::seconds>(config_.retention / 2, 1s, 60s);
}

EventHub::~EventHub() { shutdown(); }

void EventHub::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !reader_.joinable()) return;
    stopping_ = true;
    for (auto& w : subscribers_)
      if (auto s = w.lock()) s->end();
  }
  wake_.notify_all();
  if (reader_.joinable()) reader_.join();
  store_.onForeignEvents(nullptr);
}

void EventHub::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

std::shared_ptr<Stream> EventHub::subscribe(Viewer viewer, std::optional<int64_t> lastEventId,
                                                  bool& storageDown) {
  storageDown = false;
  int64_t oldest = 0, newest = 0;
  if (store_.eventBounds(oldest, newest)) {
    storageDown = true;
    return nullptr;
  }
  // Resuming is possible while the log still holds everything after the id:
  // the id is not in the future and nothing between it and the oldest
  // event kept was pruned. Otherwise the client must read the collection
  // again (an `event: reset`) and then goes on live.
  bool resume = lastEventId && *lastEventId <= newest && *lastEventId >= oldest - 1;
  bool reset = lastEventId && !resume;
  auto s = std::make_shared<Subscriber>(std::move(viewer), resume ? *lastEventId : newest, resume);
  std::string first(kRetry);
  if (reset)
    first.append("event: reset\ndata: {\"reason\":\"history_expired\",\"message\":\"The events after id ")
        .append(std::to_string(*lastEventId))
        .append(" are no longer kept: read the collection again, then follow this stream.\"}\n\n");
  s->push(first);
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || static_cast<int64_t>(subscribers_.size()) >= config_.maxSubscribers) return nullptr;
    // With nobody listening the reader skips the log; start it where this one starts.
    if (subscribers_.empty() && head_ < newest) head_ = newest;
    subscribers_.push_back(s);
    count_.store(subscribers_.size(), std::memory_order_relaxed);
    woken_ = true;
  }
  wake_.notify_one();
  return s;
}

void EventHub::run() {
  auto lastRecheck = std::chrono::steady_clock::now();
  auto lastPrune = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // 25 ms while anyone listens: writes of other processes on a SQLite
    // file, and a missed NOTIFY, are found that soon. Idle: once a second.
    auto interval = subscribers_.empty() ? 1000ms : 25ms;
    wake_.wait_for(lock, interval, [this] { return woken_ || stopping_; });
    if (stopping_) break;
    woken_ = false;
    // A stream whose connection let go of it (ended, client gone, a HEAD
    // that never streamed) is dropped here.
    std::erase_if(subscribers_, [](const auto& w) {
      auto s = w.lock();
      return !s || s->gone();
    });
    count_.store(subscribers_.size(), std::memory_order_relaxed);
    std::vector<std::shared_ptr<Subscriber>> fresh;
    for (auto& w : subscribers_)
      if (auto s = w.lock(); s && s->catchingUp) fresh.push_back(std::move(s));
    bool anyone = !subscribers_.empty();
    lock.unlock();

    for (auto& s : fresh) catchUp(*s);
    if (anyone) readNew();
    auto now = std::chrono::steady_clock::now();
    if (anyone && now - lastRecheck >= 1s) {
      lastRecheck = now;
      recheck();
    }
    if (now - lastPrune >= pruneInterval()) {
      lastPrune = now;
      prune();
    }
    lock.lock();
  }
}

void EventHub::catchUp(Subscriber& s) {
  // What it missed, from the log, up to where the live feed stands; then
  // it is live. Only this thread delivers, so nothing comes out of order.
  std::vector<store::StoredEvent> batch;
  int64_t until;
  {
    std::lock_guard lock(mutex_);
    until = head_;
  }
  while (s.cursor < until && !s.gone()) {
    if (store_.readEvents(s.cursor, kReadBatch, batch)) return;  // storage away: try again next round
    if (batch.empty()) break;
    for (const auto& e : batch) {
      if (e.seq > until) break;
      if (s.sees(e)) s.push(frame(e));
      s.cursor = e.seq;
    }
    if (static_cast<int64_t>(batch.size()) < kReadBatch) break;
  }
  s.cursor = std::max(s.cursor, until);
  s.catchingUp = false;
}

void EventHub::readNew() {
  std::vector<store::StoredEvent> batch;
  for (;;) {
    int64_t after;
    {
      std::lock_guard lock(mutex_);
      after = head_;
    }
    if (store_.readEvents(after, kReadBatch, batch)) return;
    for (const auto& e : batch) deliver(e);
    if (static_cast<int64_t>(batch.size()) < kReadBatch) return;
  }
}

void EventHub::deliver(const store::StoredEvent& e) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    for (auto& w : subscribers_) {
      auto s = w.lock();
      if (!s || s->catchingUp) continue;  // one catching up reads this event from the log itself
      if (s->sees(e)) targets.push_back(s);
      s->cursor = std::max(s->cursor, e.seq);
    }
    head_ = std::max(head_, e.seq);
  }
  if (targets.empty()) return;
  std::string text = frame(e);
  for (auto& s : targets) s->push(text);  // a short lock of each; never blocks on a client
}

void EventHub::recheck() {
  std::vector<std::shared_ptr<Subscriber>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& w : subscribers_)
      if (auto s = w.lock()) all.push_back(std::move(s));
  }
  for (auto& s : all)
    if (s->viewer.stillAllowed && !s->viewer.stillAllowed()) s->end();  // a revoked token, a changed role
}

void EventHub::prune() {
  int64_t before = nowMillis() - std::chrono::duration_cast<std::chrono::milliseconds>(config_.retention).count();
  store_.submitWrite([before](store::WriteTxn& txn) { return !txn.pruneEvents(before); }, [](bool) {});
}

}  // namespace restd::api
