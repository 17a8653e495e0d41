#include "common/strings.h"

namespace restd {

namespace {
char asciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = asciiLower(c);
  return out;
}

double qValue(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    std::string_view v = trim(p.substr(2));
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return 0;
    if (v.size() == 1) return v[0] - '0';
    if (v[1] != '.' || v.size() > 5) return 0;
    int thousandths = 0, scale = 100;
    for (char c : v.substr(2)) {
      if (c < '0' || c > '9') return 0;
      thousandths += (c - '0') * scale;
      scale /= 10;
    }
    if (v[0] == '1') return thousandths == 0 ? 1 : 0;
    return thousandths / 1000.0;
  }
  return 1;
}

}  // namespace restd
