#include "http/access_log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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

}  // namespace

void AccessLog::write(const AccessRecord& r) {
  if (!out_) return;
  // One line per request: the buffers are per thread and keep their capacity.
  thread_local rapidjson::StringBuffer sb;
  thread_local std::string time, redacted;
  sb.Clear();
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  std::string_view timeText = logTimeNow(time);
  std::string_view path = r.target;
  if (path.find("access_token") != std::string_view::npos) {
    redacted = redactAccessToken(r.target);
    path = redacted;
  }
  w.StartObject();
  w.Key("time"); w.String(timeText.data(), static_cast<rapidjson::SizeType>(timeText.size()));
  w.Key("requestId"); w.String(r.requestId.data(), static_cast<rapidjson::SizeType>(r.requestId.size()));
  w.Key("method"); w.String(r.method.data(), static_cast<rapidjson::SizeType>(r.method.size()));
  w.Key("path"); w.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
  w.Key("status"); w.Int(r.status);
  w.Key("bytes"); w.Uint64(r.bytes);
  w.Key("duration"); w.Double(r.durationSeconds);
  w.EndObject();
  bool full;
  {
    std::lock_guard lock(mutex_);
    pending_.append(sb.GetString(), sb.GetSize());
    pending_ += '\n';
    full = pending_.size() >= 64 * 1024;
  }
  if (full) wake_.notify_one();
}

void AccessLog::internalError(std::string_view requestId, std::string_view what) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  std::string time = formatLogTime(std::chrono::system_clock::now());
  w.StartObject();
  w.Key("time"); w.String(time.data(), static_cast<rapidjson::SizeType>(time.size()));
  w.Key("level"); w.String("error");
  w.Key("requestId"); w.String(requestId.data(), static_cast<rapidjson::SizeType>(requestId.size()));
  w.Key("error"); w.String(what.data(), static_cast<rapidjson::SizeType>(what.size()));
  w.EndObject();
  std::fprintf(stderr, "%s\n", sb.GetString());
}

}  // namespace restd::http
