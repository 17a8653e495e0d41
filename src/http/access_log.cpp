#include "http/access_log.h"

#include <charconv>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/json.h"
#include "common/time.h"
#include "http/message.h"

namespace restd::http {

bool AccessLog::open(const std::string& destination) {
  if (destination == "off") return true;
  if (destination == "stdout") {
    out_ = stdout;
  } else {
    out_ = std::fopen(destination.c_str(), "a");
    if (!out_) {
      std::fprintf(stderr, "restd: cannot open access log %s\n", destination.c_str());
      return false;
    }
    ownsFile_ = true;
  }
  flusher_ = std::thread([this] { flusherLoop(); });
  return true;
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  flush();
  if (ownsFile_ && out_) std::fclose(out_);
}

void AccessLog::flusherLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    lock.unlock();
    flush();
    lock.lock();
  }
}

void AccessLog::flush() {
  // Two buffers trade places, so neither is reallocated in steady state.
  std::lock_guard writeLock(writeMutex_);
  writing_.clear();
  {
    std::lock_guard lock(mutex_);
    writing_.swap(pending_);
  }
  if (writing_.empty() || !out_) return;
  std::fwrite(writing_.data(), 1, writing_.size(), out_);
  std::fflush(out_);
}

namespace {

// The log time with milliseconds; the part up to the second is formatted once
// per second per thread.
std::string_view logTimeNow(std::string& scratch) {
  thread_local std::string secondText;
  thread_local int64_t second = -1;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  if (ms / 1000 != second) {
    second = ms / 1000;
    secondText = formatLogTime(now);
    secondText.resize(secondText.size() - 4);  // drop "mmmZ", keep "...:SS."
  }
  int msPart = static_cast<int>(ms % 1000);
  scratch.assign(secondText);
  scratch.push_back(static_cast<char>('0' + msPart / 100));
  scratch.push_back(static_cast<char>('0' + msPart / 10 % 10));
  scratch.push_back(static_cast<char>('0' + msPart % 10));
  scratch.push_back('Z');
  return scratch;
}

// Appends `text` as the inside of a JSON string.
void appendJsonText(std::string& out, std::string_view text) {
  if (!needsJsonEscape(text)) {  // nearly always: copied whole
    out.append(text);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run = 0;  // start of the characters not yet appended, which need no escape
  for (size_t i = 0; i < text.size(); ++i) {
    auto u = static_cast<unsigned char>(text[i]);
    if (u != '"' && u != '\\' && u >= 0x20) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    if (u == '"' || u == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(u));
    } else {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  out.append(text.data() + run, text.size() - run);
}

}  // namespace

void AccessLog::write(const AccessRecord& r) {
  if (!out_) return;
  // One JSON line per request, built in a per-thread buffer that keeps its
  // capacity (this runs once per request on the I/O thread). Invalid UTF-8
  // in the path is passed through as received.
  thread_local std::string line, time, redacted;
  std::string_view path = r.target;
  if (path.find("access_token") != std::string_view::npos) {
    redacted = redactAccessToken(r.target);
    path = redacted;
  }
  line.clear();
  line.append("{\"time\":\"").append(logTimeNow(time)).append("\",\"requestId\":\"");
  appendJsonText(line, r.requestId);
  line.append("\",\"method\":\"");
  appendJsonText(line, r.method);
  line.append("\",\"path\":\"");
  appendJsonText(line, path);
  char number[32];
  line.append("\",\"status\":");
  line.append(number, std::to_chars(number, number + sizeof number, r.status).ptr);
  line.append(",\"bytes\":");
  line.append(number, std::to_chars(number, number + sizeof number, r.bytes).ptr);
  line.append(",\"duration\":");
  line.append(number, std::to_chars(number, number + sizeof number, r.durationSeconds, std::chars_format::fixed, 6).ptr);
  line.append("}\n");
  bool full;
  {
    std::lock_guard lock(mutex_);
    pending_.append(line);
    full = pending_.size() >= 64 * 1024;
  }
  if (full) wake_.notify_one();
}

}  // namespace restd::http
