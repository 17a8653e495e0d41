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
    return true;
  }
  out_ = std::fopen(destination.c_str(), "a");
  if (!out_) {
    std::fprintf(stderr, "restd: cannot open access log %s\n", destination.c_str());
    return false;
  }
  ownsFile_ = true;
  return true;
}

AccessLog::~AccessLog() {
  if (ownsFile_ && out_) std::fclose(out_);
}

void AccessLog::write(const AccessRecord& r) {
  if (!out_) return;
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  std::string time = formatLogTime(std::chrono::system_clock::now());
  std::string path = redactAccessToken(r.target);
  w.StartObject();
  w.Key("time"); w.String(time.data(), static_cast<rapidjson::SizeType>(time.size()));
  w.Key("requestId"); w.String(r.requestId.data(), static_cast<rapidjson::SizeType>(r.requestId.size()));
  w.Key("method"); w.String(r.method.data(), static_cast<rapidjson::SizeType>(r.method.size()));
  w.Key("path"); w.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
  w.Key("status"); w.Int(r.status);
  w.Key("bytes"); w.Uint64(r.bytes);
  w.Key("duration"); w.Double(r.durationSeconds);
  w.EndObject();
  std::lock_guard lock(mutex_);
  std::fwrite(sb.GetString(), 1, sb.GetSize(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
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
