// Validated configuration (SPEC §2, §10 "Configuration").
//
// loadConfig() is the only way to get a Config: it parses TOML, checks every
// key and rule, and either returns a complete Config or every mistake found,
// each as "PATH:LINE:COLUMN: key: message". A Config is immutable after
// loading and safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace restd {

enum class FieldType { string, integer, number, boolean, datetime, object, array };
std::string_view fieldTypeName(FieldType t);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::string;
  bool required = false;
  bool unique = false;
  bool readOnly = false;
  bool index = false;                       // a plain database index for filters and sorting (unique ones have theirs)
  std::optional<std::string> defaultJson;   // the default as JSON text
  std::vector<std::string> enumJson;        // allowed values as JSON text
  std::optional<double> min, max;           // number / integer bounds
  std::optional<int64_t> minLength, maxLength;  // string length (code points) / array size
  std::optional<std::string> pattern;       // PCRE2 regex (checked at load), strings only
};

enum class Visibility { public_, owner };
enum class ExtraFields { reject, allow };

struct CollectionSpec {
  std::string name;        // URL segment and table name
  std::string singular;    // "thing" for "things"
  std::string idPrefix;    // TypeID prefix
  std::optional<std::string> slugFrom;
  Visibility visibility = Visibility::public_;
  bool anonymousRead = false;
  ExtraFields extraFields = ExtraFields::reject;
  std::vector<FieldSpec> fields;  // in the order written in the config

  const FieldSpec* field(std::string_view n) const;
};

struct ListenAddress {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string toString() const;
};

struct ServerConfig {
  ListenAddress listen;
  std::string basePath = "/api/v2";   // "" or "/segment[/segment...]", no trailing '/'
  unsigned threads = 0;               // 0 = one per core
  std::string envelope = "standard";
  std::string timezone = "UTC";       // "UTC", "+HH:MM"/"-HH:MM" or an IANA name
  uint64_t maxBodyBytes = 1048576;
  uint64_t maxBatchItems = 1000;
  std::string docsUrl;
  uint64_t maxInFlight = 4096;
  unsigned maxConnectionsPerClient = 256;  // 0 = no cap
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds idleTimeout{60'000};
  std::chrono::milliseconds drainTimeout{30'000};
  std::string accessLog = "stdout";   // "stdout", "off" or a file path
  bool metrics = true;                // serve GET /metrics
};

struct StorageConfig {
  std::string url = "sqlite:restd.db";
  std::string durability = "full";    // "full" or "normal"
  unsigned poolSize = 10;             // PostgreSQL: connections (and request threads) per node for requests
};

struct AuthConfig {
  std::chrono::seconds tokenTtl{24 * 3600};
  bool basic = true;
  int64_t lockoutAttempts = 5;
  std::chrono::seconds lockoutWindow{15 * 60};
};

struct RateLimitConfig { int64_t requestsPerMinute = 600; };
struct CorsConfig { std::vector<std::string> allowOrigins; };
struct EventsConfig {
  std::chrono::seconds retention{24 * 3600};  // how long the log keeps events for Last-Event-ID
  int64_t maxSubscribers = 1000;               // open /events streams per node; more get 503
  std::chrono::seconds heartbeat{15};          // a comment line after this much quiet
};

struct Config {
  std::string sourcePath;   // as given by the user; "<demo>" for --demo
  ServerConfig server;
  StorageConfig storage;
  AuthConfig auth;
  RateLimitConfig rateLimit;
  CorsConfig cors;
  EventsConfig events;
  std::vector<CollectionSpec> collections;  // in config order

  const CollectionSpec* collection(std::string_view name) const;
};

struct ConfigErrors {
  std::vector<std::string> messages;  // "PATH:LINE:COLUMN: key: message"
};

// Parses and validates TOML text. `path` is used only in messages.
// Returns the Config, or fills `errors` (never both).
std::optional<Config> parseConfig(std::string_view tomlText, const std::string& path,
                                  ConfigErrors& errors);

// Reads the file and calls parseConfig. A missing/unreadable file is one error.
std::optional<Config> loadConfigFile(const std::string& path, ConfigErrors& errors);

// Values given on the command line or in the environment, applied over the file.
struct ConfigOverrides {
  std::optional<std::string> listen;
  std::optional<std::string> storage;
  std::optional<unsigned> threads;
};
// Applies RESTD_LISTEN / RESTD_STORAGE from the environment, then `flags`.
// Returns false and appends a message when a value is invalid.
bool applyOverrides(Config& config, const ConfigOverrides& flags, ConfigErrors& errors);

// Helpers shared with the CLI and tests.
std::optional<ListenAddress> parseListen(std::string_view text);  // also "8080" and ":8080" (0.0.0.0)
// sqlite:PATH, postgres://... or postgresql://...
bool isStorageUrl(std::string_view url);
// A storage URL as given, or a bare path ("restd.db") as sqlite:PATH;
// nullopt when it is neither.
std::optional<std::string> normalizeStorageUrl(std::string_view url);
// sqlite:REL as sqlite:ABSOLUTE, REL taken relative to `against`; any other
// URL unchanged.
std::string resolveSqlitePath(const std::string& url, const std::string& against);
// "did you mean \"KNOWN\"?" for the closest of `known` to a mistyped word,
// or "" when none is close.
std::string didYouMean(std::string_view word, const std::vector<std::string_view>& known);
std::optional<std::chrono::seconds> parseDuration(std::string_view text);  // 30s 15m 24h 7d
bool isValidName(std::string_view name);  // [a-z][a-z0-9_]{0,62}

// The built-in configuration of `restd serve --demo` and the commented file
// written by `restd init`. Both are valid TOML that parseConfig accepts.
std::string_view demoConfigToml();
std::string_view initConfigToml();

}  // namespace restd
