// The configuration loader: TOML -> validated Config, every mistake
// reported with its file, line, column and key (config.h).
#include "config/config.h"

#include "common/pattern.h"
#include "config/names.h"
#include "config/toml_json.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace restd {

namespace {

class Loader {
 public:
  Loader(const std::string& path, ConfigErrors& errors) : path_(path), errors_(errors) {}

  void error(const toml::source_region& where, std::string_view key, std::string_view msg) {
    std::string m = path_ + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column) + ": ";
    if (!key.empty()) {
      m += key;
      m += ": ";
    }
    m += msg;
    errors_.messages.push_back(std::move(m));
  }

  // Entries of a table sorted by their position in the file (toml++ keeps keys sorted by name).
  static std::vector<std::pair<const toml::key*, const toml::node*>> ordered(const toml::table& t) {
    std::vector<std::pair<const toml::key*, const toml::node*>> v;
    for (auto&& [k, n] : t) v.emplace_back(&k, &n);
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      auto pa = a.first->source().begin, pb = b.first->source().begin;
      return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    return v;
  }

  void unknownKeys(const toml::table& t, std::string_view prefix, std::initializer_list<std::string_view> known) {
    for (auto [k, n] : ordered(t)) {
      if (std::find(known.begin(), known.end(), k->str()) == known.end()) {
        std::string hint = didYouMean(k->str(), std::vector<std::string_view>(known));
        error(k->source(), std::string(prefix) + std::string(k->str()), hint.empty() ? "unknown key" : "unknown key; " + hint);
      }
    }
  }

  const toml::table* section(const toml::table& root, std::string_view name) {
    auto n = root.get(name);
    if (!n) return nullptr;
    if (!n->is_table()) {
      error(n->source(), name, "must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  std::optional<std::string> str(const toml::table& t, std::string_view key, const std::string& full) {
    auto n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) {
      error(n->source(), full, "must be a string");
      return std::nullopt;
    }
    return n->as_string()->get();
  }

  std::optional<int64_t> integer(const toml::table& t, std::string_view key, const std::string& full, int64_t lo,
                                 int64_t hi) {
    auto n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) {
      error(n->source(), full, "must be a whole number");
      return std::nullopt;
    }
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      error(n->source(), full, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key, const std::string& full) {
    auto n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) {
      error(n->source(), full, "must be true or false");
      return std::nullopt;
    }
    return n->as_boolean()->get();
  }

  std::optional<std::chrono::seconds> duration(const toml::table& t, std::string_view key, const std::string& full) {
    auto s = str(t, key, full);
    if (!s) return std::nullopt;
    auto d = parseDuration(*s);
    if (!d) error(t.get(key)->source(), full, "must be a duration like \"30s\", \"15m\", \"24h\" or \"7d\"");
    return d;
  }

  void loadServer(const toml::table& t, ServerConfig& s);
  void loadStorage(const toml::table& t, StorageConfig& s);
  void loadAuth(const toml::table& t, AuthConfig& a);
  void loadRateLimit(const toml::table& t, RateLimitConfig& r);
  void loadCors(const toml::table& t, CorsConfig& c);
  void loadEvents(const toml::table& t, EventsConfig& e);
  void loadCollection(const toml::key& name, const toml::node& node, CollectionSpec& c);
  void loadField(const std::string& prefix, const toml::key& name, const toml::node& node, FieldSpec& f);
  // min/max, min_length/max_length and pattern of a field whose type is known.
  void loadFieldBounds(const toml::table& t, const std::string& full, FieldSpec& f);
  // enum, then default (which must be one of the enum values and within the bounds).
  void loadFieldValues(const toml::table& t, const std::string& full, const std::string& typeName, FieldSpec& f);

 private:
  std::string path_;
  ConfigErrors& errors_;
};

bool isTimezone(std::string_view tz) {
  if (tz == "UTC") return true;
  if (tz.size() == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':') {
    auto d = [&](size_t i) { return tz[i] >= '0' && tz[i] <= '9'; };
    if (!(d(1) && d(2) && d(4) && d(5))) return false;
    int hh = (tz[1] - '0') * 10 + (tz[2] - '0');
    int mm = (tz[4] - '0') * 10 + (tz[5] - '0');
    return hh <= 23 && mm <= 59;
  }
  // IANA name: must exist in the system's zone database.
  if (tz.empty() || tz.find("..") != std::string_view::npos || tz.front() == '/') return false;
  for (char c : tz)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+')) return false;
  struct stat st{};
  std::string file = "/usr/share/zoneinfo/" + std::string(tz);
  return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void Loader::loadServer(const toml::table& t, ServerConfig& s) {
  unknownKeys(t, "server.", {"listen", "base_path", "threads", "envelope", "timezone", "max_body_bytes",
                             "max_batch_items", "docs_url", "max_in_flight", "max_connections_per_client", "header_timeout", "idle_timeout",
                             "drain_timeout", "access_log", "metrics"});
  if (auto v = str(t, "listen", "server.listen")) {
    if (auto a = parseListen(*v)) s.listen = *a;
    else error(t.get("listen")->source(), "server.listen", "must be HOST:PORT, e.g. \"127.0.0.1:8080\"");
  }
  if (auto v = str(t, "base_path", "server.base_path")) {
    bool ok = v->empty() || ((*v)[0] == '/' && v->back() != '/' && v->find("//") == std::string::npos);
    for (char c : *v)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.')) ok = false;
    if (ok) s.basePath = *v;
    else error(t.get("base_path")->source(), "server.base_path",
               "must be \"\" or start with \"/\" and not end with \"/\", e.g. \"/api/v2\"");
  }
  if (auto v = integer(t, "threads", "server.threads", 0, 1024)) s.threads = static_cast<unsigned>(*v);
  if (auto v = str(t, "envelope", "server.envelope")) {
    if (isOneOf(kEnvelopes, *v)) s.envelope = *v;
    else error(t.get("envelope")->source(), "server.envelope",
               "unknown profile; use standard, problem, request-result, success-flag, plain, data-meta or result-metadata");
  }
  if (auto v = str(t, "timezone", "server.timezone")) {
    if (isTimezone(*v)) s.timezone = *v;
    else error(t.get("timezone")->source(), "server.timezone",
               "must be \"UTC\", an offset like \"+02:00\", or an IANA zone name such as \"Europe/Paris\"");
  }
  if (auto v = integer(t, "max_body_bytes", "server.max_body_bytes", 1, int64_t(1) << 32)) s.maxBodyBytes = uint64_t(*v);
  if (auto v = integer(t, "max_batch_items", "server.max_batch_items", 1, 1'000'000)) s.maxBatchItems = uint64_t(*v);
  if (auto v = str(t, "docs_url", "server.docs_url")) s.docsUrl = *v;
  if (auto v = integer(t, "max_in_flight", "server.max_in_flight", 1, 10'000'000)) s.maxInFlight = uint64_t(*v);
  if (auto v = integer(t, "max_connections_per_client", "server.max_connections_per_client", 0, 1'000'000))
    s.maxConnectionsPerClient = static_cast<unsigned>(*v);
  if (auto v = duration(t, "header_timeout", "server.header_timeout")) s.headerTimeout = *v;
  if (auto v = duration(t, "idle_timeout", "server.idle_timeout")) s.idleTimeout = *v;
  if (auto v = duration(t, "drain_timeout", "server.drain_timeout")) s.drainTimeout = *v;
  if (auto v = boolean(t, "metrics", "server.metrics")) s.metrics = *v;
  if (auto v = str(t, "access_log", "server.access_log")) {
    if (v->empty()) error(t.get("access_log")->source(), "server.access_log", "must be \"stdout\", \"off\" or a file path");
    else s.accessLog = *v;
  }
}



void Loader::loadStorage(const toml::table& t, StorageConfig& s) {
  unknownKeys(t, "storage.", {"url", "durability", "pool_size"});
  if (auto v = str(t, "url", "storage.url")) {
    if (isStorageUrl(*v)) s.url = *v;
    else error(t.get("url")->source(), "storage.url",
               "must be \"sqlite:PATH\", \"sqlite::memory:\" or \"postgres://user:pass@host:port/db\"");
  }
  if (auto v = str(t, "durability", "storage.durability")) {
    if (*v == "full" || *v == "normal") s.durability = *v;
    else error(t.get("durability")->source(), "storage.durability", "must be \"full\" or \"normal\"");
  }
  if (auto v = integer(t, "pool_size", "storage.pool_size", 1, 1000)) s.poolSize = static_cast<unsigned>(*v);
}

void Loader::loadAuth(const toml::table& t, AuthConfig& a) {
  unknownKeys(t, "auth.", {"token_ttl", "basic", "lockout_attempts", "lockout_window"});
  if (auto v = duration(t, "token_ttl", "auth.token_ttl")) a.tokenTtl = *v;
  if (auto v = boolean(t, "basic", "auth.basic")) a.basic = *v;
  if (auto v = integer(t, "lockout_attempts", "auth.lockout_attempts", 1, 1'000'000)) a.lockoutAttempts = *v;
  if (auto v = duration(t, "lockout_window", "auth.lockout_window")) a.lockoutWindow = *v;
}

void Loader::loadRateLimit(const toml::table& t, RateLimitConfig& r) {
  unknownKeys(t, "rate_limit.", {"requests_per_minute"});
  if (auto v = integer(t, "requests_per_minute", "rate_limit.requests_per_minute", 0, 100'000'000))
    r.requestsPerMinute = *v;
}

void Loader::loadEvents(const toml::table& t, EventsConfig& e) {
  unknownKeys(t, "events.", {"retention", "max_subscribers", "heartbeat"});
  if (auto v = duration(t, "retention", "events.retention")) e.retention = *v;
  if (auto v = integer(t, "max_subscribers", "events.max_subscribers", 0, 1'000'000)) e.maxSubscribers = *v;
  if (auto v = duration(t, "heartbeat", "events.heartbeat")) {
    if (v->count() < 1) error(t.get("heartbeat")->source(), "events.heartbeat", "must be at least 1s");
    else e.heartbeat = *v;
  }
}

void Loader::loadCors(const toml::table& t, CorsConfig& c) {
  unknownKeys(t, "cors.", {"allow_origins"});
  auto n = t.get("allow_origins");
  if (!n) return;
  auto arr = n->as_array();
  if (!arr) {
    error(n->source(), "cors.allow_origins", "must be an array of strings");
    return;
  }
  for (auto& e : *arr) {
    if (!e.is_string()) {
      error(e.source(), "cors.allow_origins", "must be an array of strings");
      continue;
    }
    c.allowOrigins.push_back(e.as_string()->get());
  }
}

std::optional<FieldType> parseFieldType(std::string_view s) {
  for (auto t : {FieldType::string, FieldType::integer, FieldType::number, FieldType::boolean, FieldType::datetime,
                 FieldType::object, FieldType::array})
    if (fieldTypeName(t) == s) return t;
  return std::nullopt;
}

bool valueFitsType(const toml::node& n, FieldType t) {
  switch (t) {
    case FieldType::string: return n.is_string();
    case FieldType::integer: return n.is_integer();
    case FieldType::number: return n.is_integer() || n.is_floating_point();
    case FieldType::boolean: return n.is_boolean();
    case FieldType::datetime: return n.is_date_time() || n.is_string();
    case FieldType::object: return n.is_table();
    case FieldType::array: return n.is_array();
  }
  return false;
}

void Loader::loadField(const std::string& prefix, const toml::key& name, const toml::node& node, FieldSpec& f) {
  std::string full = prefix + std::string(name.str());
  f.name = std::string(name.str());
  if (!isValidName(f.name)) {
    error(name.source(), full, "field names must match [a-z][a-z0-9_]{0,62}");
  } else if (isOneOf(kSystemFields, f.name)) {
    error(name.source(), full, "\"" + f.name + "\" is a system field and cannot be declared");
  } else if (isOneOf(kListParams, f.name)) {
    error(name.source(), full, "\"" + f.name + "\" is a list query parameter and cannot be a field name");
  }
  auto t = node.as_table();
  if (!t) {
    error(node.source(), full, "must be a table such as { type = \"string\" }");
    return;
  }
  unknownKeys(*t, full + ".", {"type", "required", "unique", "default", "enum", "min", "max", "min_length",
                               "max_length", "pattern", "read_only", "index"});
  auto typeName = str(*t, "type", full + ".type");
  if (!typeName) {
    if (!t->get("type")) error(node.source(), full, "needs a type");
    return;
  }
  auto type = parseFieldType(*typeName);
  if (!type) {
    error(t->get("type")->source(), full + ".type",
          "unknown type \"" + *typeName + "\"; use string, integer, number, boolean, datetime, object or array");
    return;
  }
  f.type = *type;
  if (auto v = boolean(*t, "required", full + ".required")) f.required = *v;
  if (auto v = boolean(*t, "unique", full + ".unique")) f.unique = *v;
  if (auto v = boolean(*t, "read_only", full + ".read_only")) f.readOnly = *v;
  if (f.unique && (f.type == FieldType::object || f.type == FieldType::array))
    error(t->get("unique")->source(), full + ".unique", "object and array fields cannot be unique");
  if (auto v = boolean(*t, "index", full + ".index")) f.index = *v;
  if (f.index && (f.type == FieldType::object || f.type == FieldType::array))
    error(t->get("index")->source(), full + ".index", "object and array fields cannot be indexed");

  loadFieldBounds(*t, full, f);
  loadFieldValues(*t, full, *typeName, f);
  if (f.readOnly && !f.defaultJson && f.required)
    error(node.source(), full, "a read_only field that is required needs a default");
}

void Loader::loadFieldBounds(const toml::table& tbl, const std::string& full, FieldSpec& f) {
  const toml::table* t = &tbl;
  bool numeric = f.type == FieldType::integer || f.type == FieldType::number;
  for (auto key : {"min", "max"}) {
    auto n = t->get(key);
    if (!n) continue;
    if (!numeric) error(n->source(), full + "." + key, "only integer and number fields take min and max");
    else if (!(n->is_integer() || n->is_floating_point())) error(n->source(), full + "." + key, "must be a number");
    else {
      double v = n->is_integer() ? double(n->as_integer()->get()) : n->as_floating_point()->get();
      (std::string_view(key) == "min" ? f.min : f.max) = v;
    }
  }
  if (f.min && f.max && *f.min > *f.max) error(t->get("min")->source(), full + ".min", "is greater than max");
  bool lengthy = f.type == FieldType::string || f.type == FieldType::array;
  for (auto key : {"min_length", "max_length"}) {
    auto n = t->get(key);
    if (!n) continue;
    if (!lengthy) error(n->source(), full + "." + key, "only string and array fields take min_length and max_length");
    else if (auto v = integer(*t, key, full + "." + key, 0, int64_t(1) << 40))
      (std::string_view(key) == "min_length" ? f.minLength : f.maxLength) = *v;
  }
  if (f.minLength && f.maxLength && *f.minLength > *f.maxLength)
    error(t->get("min_length")->source(), full + ".min_length", "is greater than max_length");
  if (auto n = t->get("pattern")) {
    if (f.type != FieldType::string) error(n->source(), full + ".pattern", "only string fields take a pattern");
    else if (auto p = str(*t, "pattern", full + ".pattern")) {
      std::string why;
      if (Pattern::compile(*p, why)) f.pattern = *p;
      else error(n->source(), full + ".pattern", "is not a valid regular expression: " + why);
    }
  }
}

void Loader::loadFieldValues(const toml::table& tbl, const std::string& full, const std::string& typeName, FieldSpec& f) {
  const toml::table* t = &tbl;
  bool numeric = f.type == FieldType::integer || f.type == FieldType::number;
  if (auto n = t->get("enum")) {
    auto arr = n->as_array();
    if (!arr || arr->empty()) error(n->source(), full + ".enum", "must be a non-empty array");
    else
      for (auto& e : *arr) {
        if (!valueFitsType(e, f.type) || e.is_table() || e.is_array()) {
          error(e.source(), full + ".enum", "values must be of the field's type (" + typeName + ")");
          continue;
        }
        std::string j;
        toJson(e, j);
        f.enumJson.push_back(std::move(j));
      }
  }
  if (auto n = t->get("default")) {
    if (!valueFitsType(*n, f.type)) {
      error(n->source(), full + ".default", "must be of the field's type (" + typeName + ")");
    } else {
      std::string j;
      toJson(*n, j);
      if (!f.enumJson.empty() && !isOneOf(f.enumJson, j))
        error(n->source(), full + ".default", "is not one of the enum values");
      double num = n->is_integer() ? double(n->as_integer()->get()) : n->is_floating_point() ? n->as_floating_point()->get() : 0;
      if (numeric && ((f.min && num < *f.min) || (f.max && num > *f.max)))
        error(n->source(), full + ".default", "is outside min/max");
      f.defaultJson = std::move(j);
    }
  }
}

void Loader::loadCollection(const toml::key& name, const toml::node& node, CollectionSpec& c) {
  std::string full = "collections." + std::string(name.str());
  c.name = std::string(name.str());
  if (!isValidName(c.name)) error(name.source(), full, "collection names must match [a-z][a-z0-9_]{0,62}");
  auto t = node.as_table();
  if (!t) {
    error(node.source(), full, "must be a table");
    return;
  }
  unknownKeys(*t, full + ".", {"singular", "id_prefix", "slug_from", "visibility", "anonymous_read", "extra_fields",
                               "fields"});
  c.singular = c.name.size() > 1 && c.name.back() == 's' ? c.name.substr(0, c.name.size() - 1) : c.name;
  if (auto v = str(*t, "singular", full + ".singular")) {
    if (isValidName(*v)) c.singular = *v;
    else error(t->get("singular")->source(), full + ".singular", "must match [a-z][a-z0-9_]{0,62}");
  }
  c.idPrefix = c.singular;
  if (auto v = str(*t, "id_prefix", full + ".id_prefix")) {
    bool ok = isValidName(*v) && v->back() != '_';
    if (ok) c.idPrefix = *v;
    else error(t->get("id_prefix")->source(), full + ".id_prefix",
               "must match [a-z][a-z0-9_]{0,62} and not end with \"_\"");
  }
  if (auto v = str(*t, "visibility", full + ".visibility")) {
    if (*v == "public") c.visibility = Visibility::public_;
    else if (*v == "owner") c.visibility = Visibility::owner;
    else error(t->get("visibility")->source(), full + ".visibility", "must be \"public\" or \"owner\"");
  }
  if (auto v = boolean(*t, "anonymous_read", full + ".anonymous_read")) c.anonymousRead = *v;
  if (auto v = str(*t, "extra_fields", full + ".extra_fields")) {
    if (*v == "reject") c.extraFields = ExtraFields::reject;
    else if (*v == "allow") c.extraFields = ExtraFields::allow;
    else error(t->get("extra_fields")->source(), full + ".extra_fields", "must be \"reject\" or \"allow\"");
  }
  if (auto fn = t->get("fields")) {
    if (auto ft = fn->as_table()) {
      for (auto [k, n] : ordered(*ft)) {
        FieldSpec f;
        loadField(full + ".fields.", *k, *n, f);
        c.fields.push_back(std::move(f));
      }
    } else {
      error(fn->source(), full + ".fields", "must be a table of field definitions");
    }
  }
  if (auto v = str(*t, "slug_from", full + ".slug_from")) {
    const FieldSpec* f = c.field(*v);
    if (!f) error(t->get("slug_from")->source(), full + ".slug_from", "names no declared field \"" + *v + "\"");
    else if (f->type != FieldType::string)
      error(t->get("slug_from")->source(), full + ".slug_from", "must name a string field");
    else c.slugFrom = *v;
  }
}

}  // namespace

std::optional<Config> parseConfig(std::string_view text, const std::string& path, ConfigErrors& errors) {
  size_t before = errors.messages.size();
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    auto b = e.source().begin;
    errors.messages.push_back(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                              std::string(e.description()));
    return std::nullopt;
  }
  Loader L(path, errors);
  Config c;
  c.sourcePath = path;
  L.unknownKeys(root, "", {"server", "storage", "auth", "rate_limit", "cors", "events", "collections"});
  if (auto t = L.section(root, "server")) L.loadServer(*t, c.server);
  if (auto t = L.section(root, "storage")) L.loadStorage(*t, c.storage);
  if (auto t = L.section(root, "auth")) L.loadAuth(*t, c.auth);
  if (auto t = L.section(root, "rate_limit")) L.loadRateLimit(*t, c.rateLimit);
  if (auto t = L.section(root, "cors")) L.loadCors(*t, c.cors);
  if (auto t = L.section(root, "events")) L.loadEvents(*t, c.events);
  if (auto t = L.section(root, "collections")) {
    for (auto [k, n] : Loader::ordered(*t)) {
      CollectionSpec spec;
      L.loadCollection(*k, *n, spec);
      // A collection may not hide a fixed API path, nor (with base_path "") a server path.
      bool apiPath = isOneOf(kApiPaths, spec.name);
      bool serverPath = c.server.basePath.empty() && isOneOf(kServerPaths, spec.name);
      if (apiPath || serverPath)
        L.error(k->source(), "collections." + spec.name,
                "\"" + spec.name + "\" is a reserved path" +
                    (serverPath ? " when server.base_path is \"\"" : std::string()) + "; choose another name");
      c.collections.push_back(std::move(spec));
    }
  }
  if (errors.messages.size() != before) return std::nullopt;
  return c;
}

std::optional<Config> loadConfigFile(const std::string& path, ConfigErrors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.messages.push_back(path + ":1:1: cannot read the configuration file");
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  auto config = parseConfig(ss.str(), path, errors);
  // A relative SQLite path in the file is the file's: `restd user add
  // --config myapi/restd.toml` from elsewhere reaches the same database.
  if (config) config->storage.url = resolveSqlitePath(config->storage.url, std::filesystem::path(path).parent_path().string());
  return config;
}

}  // namespace restd
