#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/time.h"

namespace restd {

void logInternalError(std::string_view requestId, std::string_view what) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  std::string time = formatLogTime(std::chrono::system_clock::now());
  w.StartObject();
  w.Key("time");
  w.String(time.data(), static_cast<rapidjson::SizeType>(time.size()));
  w.Key("level");
  w.String("error");
  w.Key("requestId");
  w.String(requestId.data(), static_cast<rapidjson::SizeType>(requestId.size()));
  w.Key("error");
  w.String(what.data(), static_cast<rapidjson::SizeType>(what.size()));
  w.EndObject();
  sb.Put('\n');
  std::fwrite(sb.GetString(), 1, sb.GetSize(), stderr);
}

}  // namespace restd
