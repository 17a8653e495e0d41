#include "config/toml_json.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace restd {

// Serialises a TOML value as JSON text (defaults and enum values are kept as JSON).
void toJson(const toml::node& n, std::string& out) {
  if (auto s = n.as_string()) {
    out += '"';
    for (unsigned char c : s->get()) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  } else if (auto i = n.as_integer()) {
    out += std::to_string(i->get());
  } else if (auto f = n.as_floating_point()) {
    std::ostringstream os;
    os.precision(17);
    os << f->get();
    out += os.str();
  } else if (auto b = n.as_boolean()) {
    out += b->get() ? "true" : "false";
  } else if (auto a = n.as_array()) {
    out += '[';
    bool first = true;
    for (auto& e : *a) {
      if (!first) out += ',';
      first = false;
      toJson(e, out);
    }
    out += ']';
  } else if (auto t = n.as_table()) {
    out += '{';
    bool first = true;
    for (auto&& [k, v] : *t) {
      if (!first) out += ',';
      first = false;
      toml::value<std::string> key{std::string(k.str())};
      toJson(key, out);
      out += ':';
      toJson(v, out);
    }
    out += '}';
  } else {
    // dates and times: as RFC 3339 strings
    std::ostringstream os;
    if (auto d = n.as_date_time()) os << d->get();
    else if (auto dd = n.as_date()) os << dd->get();
    else if (auto tt = n.as_time()) os << tt->get();
    toml::value<std::string> s{os.str()};
    toJson(s, out);
  }
}

}  // namespace restd
