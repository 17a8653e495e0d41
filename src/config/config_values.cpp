// The configuration's small parsers and lookups (config.h), and the
// overrides from the command line and the environment.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "config/config.h"

namespace restd {

std::string_view fieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::string: return "string";
    case FieldType::integer: return "integer";
    case FieldType::number: return "number";
    case FieldType::boolean: return "boolean";
    case FieldType::datetime: return "datetime";
    case FieldType::object: return "object";
    case FieldType::array: return "array";
  }
  return "string";
}

const FieldSpec* CollectionSpec::field(std::string_view n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

const CollectionSpec* Config::collection(std::string_view n) const {
  for (const auto& c : collections)
    if (c.name == n) return &c;
  return nullptr;
}

std::string ListenAddress::toString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<ListenAddress> parseListen(std::string_view text) {
  ListenAddress a;
  // "8080" is the default host's port 8080; ":8080" every IPv4 interface's,
  // as the ":port" of other servers means.
  if (!text.empty() && text.find(':') == std::string_view::npos &&
      text.find_first_not_of("0123456789") == std::string_view::npos)
    return parseListen(a.host + ":" + std::string(text));
  if (text.size() > 1 && text[0] == ':') return parseListen("0.0.0.0" + std::string(text));
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return std::nullopt;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':')) return std::nullopt;
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) return std::nullopt;
  a.host = std::string(host);
  a.port = static_cast<uint16_t>(p);
  return a;
}

std::optional<std::chrono::seconds> parseDuration(std::string_view text) {
  if (text.size() < 2 || text.size() > 12) return std::nullopt;
  char unit = text.back();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (mult == 0 || n <= 0) return std::nullopt;
  return std::chrono::seconds(n * mult);
}

bool isValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool isStorageUrl(std::string_view url) {
  if (url.starts_with("sqlite:")) return url.size() > 7;
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

std::optional<std::string> normalizeStorageUrl(std::string_view url) {
  if (isStorageUrl(url)) return std::string(url);
  // A bare file name or path (no scheme, no ':' at all) names a SQLite file.
  if (!url.empty() && url.find(':') == std::string_view::npos) return "sqlite:" + std::string(url);
  return std::nullopt;
}

std::string resolveSqlitePath(const std::string& url, const std::string& against) {
  if (!url.starts_with("sqlite:")) return url;
  std::string path = url.substr(7);
  if (path == ":memory:" || path.empty() || path[0] == '/') return url;
  std::error_code ec;
  std::filesystem::path full = std::filesystem::absolute(std::filesystem::path(against) / path, ec);
  return ec ? url : "sqlite:" + full.lexically_normal().string();
}

namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string didYouMean(std::string_view word, const std::vector<std::string_view>& known) {
  std::string_view best;
  size_t bestDistance = std::max<size_t>(2, word.size() / 3) + 1;
  for (std::string_view k : known) {
    size_t d = editDistance(word, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best.empty() ? std::string() : "did you mean \"" + std::string(best) + "\"?";
}

bool applyOverrides(Config& config, const ConfigOverrides& flags, ConfigErrors& errors) {
  bool ok = true;
  auto setListen = [&](const std::string& v, std::string_view from) {
    if (auto a = parseListen(v)) config.server.listen = *a;
    else {
      errors.messages.push_back(std::string(from) + ": \"" + v + "\" is not HOST:PORT");
      ok = false;
    }
  };
  // A relative SQLite path given on the command line or in the
  // environment is the working directory's (unlike one in the file).
  auto setStorage = [&](const std::string& v, std::string_view from) {
    if (auto url = normalizeStorageUrl(v)) config.storage.url = resolveSqlitePath(*url, ".");
    else {
      errors.messages.push_back(std::string(from) + ": \"" + v +
                                "\" is not a storage URL (sqlite:PATH, sqlite::memory: or postgres://...)");
      ok = false;
    }
  };
  if (const char* e = std::getenv("RESTD_LISTEN"); e && *e) setListen(e, "RESTD_LISTEN");
  if (const char* e = std::getenv("RESTD_STORAGE"); e && *e) setStorage(e, "RESTD_STORAGE");
  if (flags.listen) setListen(*flags.listen, "--listen");
  if (flags.storage) setStorage(*flags.storage, "--storage");
  if (flags.threads) config.server.threads = *flags.threads;
  return ok;
}

}  // namespace restd
