// restd's command line: parse, load config, wire the layers, run.
#include <algorithm>
#include <atomic>
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/service.h"
#include "api/transfer.h"
#include "auth/authenticator.h"
#include "auth/credentials.h"
#include "common/progress.h"
#include "common/time.h"
#include "config/config.h"
#include "http/access_log.h"
#include "http/server.h"
#include "store/store.h"

namespace {

using namespace restd;

struct CommonOptions {
  std::string configPath;   // --config
  std::string storage;      // --storage
  bool demo = false;        // --demo: the demo's collections and ./restd-demo.db (copy commands)
};

void printErrors(const ConfigErrors& errors) {
  for (const auto& m : errors.messages) std::fprintf(stderr, "%s\n", m.c_str());
}

// The config file to use: --config, else RESTD_CONFIG, else ./restd.toml if present.
// A storage URL fit for a log line: a PostgreSQL URL's password is hidden.
std::string redactedStorageUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string resolveConfigPath(const CommonOptions& o) {
  if (!o.configPath.empty()) return o.configPath;
  if (const char* e = std::getenv("RESTD_CONFIG"); e && *e) return e;
  if (std::filesystem::exists("restd.toml")) return "restd.toml";
  return {};
}

// "; did you mean ..." for the first argument that CLI11 did not expect
// (an unknown command or option), or "".
std::string suggestion(CLI::App& app, int argc, char** argv) {
  CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().back();
  std::vector<std::string> names;
  for (const CLI::Option* o : command->get_options())
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
  std::vector<std::string> commands;
  for (const CLI::App* sub : command->get_subcommands({})) commands.push_back(sub->get_name());
  std::vector<std::string> remaining = command->remaining();
  if (remaining.empty() && argc > 1 && command == &app) remaining.push_back(argv[1]);
  for (const std::string& arg : remaining) {
    std::string_view word = arg;
    if (size_t eq = word.find('='); eq != std::string_view::npos) word = word.substr(0, eq);
    const auto& pool = word.starts_with("-") ? names : commands;
    std::vector<std::string_view> known(pool.begin(), pool.end());
    std::string hint = didYouMean(word, known);
    if (!hint.empty()) return " (" + std::string(word) + ": " + hint + ")";
  }
  return {};
}

// Opens the configured storage; says so on standard error when that
// creates a new SQLite file (a mistyped path would otherwise go unnoticed).
std::unique_ptr<store::Store> openStorage(const Config& config, std::string& error) {
  const std::string& url = config.storage.url;
  bool fresh = false;
  std::string path;
  if (url.starts_with("sqlite:") && url != "sqlite::memory:") {
    path = url.substr(7);
    std::error_code ec;
    fresh = !std::filesystem::exists(path, ec);
    // A new file in a directory that does not exist yet ("data/restd.db"): make it.
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (fresh && !parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  auto store = store::openStore(config, error);
  if (store && fresh) std::fprintf(stderr, "restd: created a new, empty database file %s\n", path.c_str());
  return store;
}

std::optional<Config> loadForCommand(const CommonOptions& o, bool demo, const ConfigOverrides& flags) {
  ConfigErrors errors;
  std::optional<Config> config;
  if (demo) {
    if (!o.configPath.empty()) {
      std::fprintf(stderr, "restd: --demo serves the demo's own configuration, not %s: drop --config, or drop --demo "
                   "to serve %s\n", o.configPath.c_str(), o.configPath.c_str());
      return std::nullopt;
    }
    config = parseConfig(demoConfigToml(), "<demo>", errors);
    if (config) config->storage.url = resolveSqlitePath(config->storage.url, ".");
  } else {
    std::string path = resolveConfigPath(o);
    if (path.empty()) {
      std::fprintf(stderr,
                   "restd: no configuration file: pass --config FILE, set RESTD_CONFIG, create one with "
                   "`restd init`, or try `restd serve --demo`\n");
      return std::nullopt;
    }
    config = loadConfigFile(path, errors);
  }
  if (!config) {
    printErrors(errors);
    return std::nullopt;
  }
  ConfigOverrides all = flags;
  if (!o.storage.empty()) all.storage = o.storage;
  if (!applyOverrides(*config, all, errors)) {
    printErrors(errors);
    return std::nullopt;
  }
  return config;
}

int serve(const CommonOptions& common, bool demo, const std::string& listen, int threads, bool allowDestructive) {
  ConfigOverrides flags;
  if (!listen.empty()) flags.listen = listen;
  if (threads >= 0) flags.threads = static_cast<unsigned>(threads);
  auto config = loadForCommand(common, demo, flags);
  if (!config) return 1;
  if (!TimeZone::configure(config->server.timezone)) {
    std::fprintf(stderr, "restd: cannot use timezone \"%s\"\n", config->server.timezone.c_str());
    return 1;
  }
  if (!render::findProfile(config->server.envelope)) {
    std::fprintf(stderr, "restd: %s: server.envelope: the \"%s\" profile is not available in this version yet\n",
                 config->sourcePath.c_str(), config->server.envelope.c_str());
    return 1;
  }
  std::string error;
  auto store = openStorage(*config, error);
  if (!store) {
    std::fprintf(stderr, "restd: %s\n", error.c_str());
    return 1;
  }
  bool destructive = false;
  if (!store->migrate(*config, allowDestructive, destructive, error)) {
    std::fprintf(stderr, "restd: %s\n", error.c_str());
    return destructive ? 2 : 1;
  }
  if (demo) {
    // The demo's account: user api / password api (admin) with the API key demo-key.
    store::User existing;
    if (store->findUser("api", existing).status == store::Status::notFound) {
      if (auto e = auth::addUser(*store, "api", auth::Role::admin, "api"); !e.empty()) {
        std::fprintf(stderr, "restd: cannot create the demo user: %s\n", e.c_str());
        return 1;
      }
    }
    std::string key = "demo-key";
    std::string keyError = auth::createApiKey(*store, "demo", key);
    if (!keyError.empty() && keyError.find("already exists") == std::string::npos) {
      std::fprintf(stderr, "restd: cannot create the demo API key: %s\n", keyError.c_str());
      return 1;
    }
  }
  http::AccessLog log;
  if (!log.open(config->server.accessLog)) return 1;

  auth::Authenticator authenticator(*config, *store);
  std::optional<Metrics> metrics;
  if (config->server.metrics) metrics.emplace(api::Service::metricRoutes(*config));
  api::Service service(*config, *store, authenticator, metrics ? &*metrics : nullptr);
  http::ServerOptions options;
  options.host = config->server.listen.host;
  options.port = config->server.listen.port;
  options.threads = config->server.threads ? config->server.threads : std::max(1u, std::thread::hardware_concurrency());
  options.maxBodyBytes = config->server.maxBodyBytes;
  options.bodylessPostPath = config->server.basePath + "/logout";
  options.maxInFlight = config->server.maxInFlight;
  options.maxConnectionsPerClient = config->server.maxConnectionsPerClient;
  options.headerTimeout = config->server.headerTimeout;
  options.idleTimeout = config->server.idleTimeout;
  options.drainTimeout = config->server.drainTimeout;
  options.serverHeader = "restd/" RESTD_VERSION;
  options.metrics = metrics ? &*metrics : nullptr;
  http::Server server(options, service, log);
  if (!server.bind(error)) {
    std::fprintf(stderr, "restd: %s\n", error.c_str());
    return 1;
  }
  store->attachLoop(server.loop());
  ListenAddress actual = config->server.listen;
  actual.port = server.port();
  std::string url = "http://" + actual.toString();
  std::printf("restd %s listening on %s (API under %s%s, %u threads, storage %s)\n", RESTD_VERSION, url.c_str(),
              url.c_str(), config->server.basePath.c_str(), options.threads, redactedStorageUrl(config->storage.url).c_str());
  if (demo) {
    std::printf("Demo mode: collections things, announcements, connections.\n");
    std::printf("Demo account: user api, password api, API key demo-key (admin).\n");
    std::printf("Try: curl -i -X POST %s%s/authenticate -d 'userName=api&apiKey=demo-key&password=api'\n", url.c_str(),
                config->server.basePath.c_str());
  }
  std::fflush(stdout);
  server.run();
  store->detachLoop();  // before the loop it watches on is gone
  // Work still queued — requests waiting for a storage thread, password
  // hashing, then writes — finishes and answers
  // while everything it touches (service, io_context) still exists.
  service.shutdown();
  authenticator.shutdown();
  store->close();
  std::printf("restd: stopped\n");
  std::fflush(stdout);
  return 0;
}

// The configuration and storage for account commands: like serve, but a
// --storage without any config file is enough.
std::unique_ptr<store::Store> openForCommand(const CommonOptions& common, std::optional<Config>& config) {
  if (common.demo) {
    config = loadForCommand(common, true, {});
    if (!config) return nullptr;
  } else if (resolveConfigPath(common).empty() && !common.storage.empty()) {
    ConfigErrors errors;
    config = parseConfig("", "<defaults>", errors);
    ConfigOverrides flags;
    flags.storage = common.storage;
    if (!applyOverrides(*config, flags, errors)) {
      printErrors(errors);
      return nullptr;
    }
  } else {
    config = loadForCommand(common, false, {});
    if (!config) return nullptr;
  }
  TimeZone::configure(config->server.timezone);
  std::string error;
  auto store = openStorage(*config, error);
  if (!store) {
    std::fprintf(stderr, "restd: %s\n", error.c_str());
    return nullptr;
  }
  bool destructive = false;
  if (!store->migrate(*config, false, destructive, error)) {
    std::fprintf(stderr, "restd: %s\n", error.c_str());
    return nullptr;
  }
  return store;
}

// RESTD_PASSWORD, else the first line of standard input (without its newline).
std::optional<std::string> readPassword() {
  if (const char* e = std::getenv("RESTD_PASSWORD")) return std::string(e);
  std::string line;
  if (!std::getline(std::cin, line) && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "restd: %s\n", message.c_str());
  return 1;
}

std::string day(int64_t ms) { return formatRfc3339Millis(ms).substr(0, 10); }

int userCommand(const CommonOptions& common, const std::string& verb, const std::string& name,
                const std::string& role, const std::string& address) {
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  if (verb == "add" || verb == "passwd") {
    std::optional<auth::Role> r = auth::parseRole(role);
    if (verb == "add" && !r) return fail("--role must be admin, writer or reader");
    auto password = readPassword();
    if (!password || password->empty())
      return fail("no password: set RESTD_PASSWORD or write it on the first line of standard input");
    std::string e = verb == "add" ? auth::addUser(*store, name, *r, *password) : auth::setPassword(*store, name, *password);
    if (!e.empty()) return fail(e);
    std::printf(verb == "add" ? "user %s added\n" : "password of %s changed; its tokens are revoked\n", name.c_str());
    return 0;
  }
  if (verb == "remove") {
    if (std::string e = auth::removeUser(*store, name); !e.empty()) return fail(e);
    std::printf("user %s removed\n", name.c_str());
    return 0;
  }
  if (verb == "unlock") {
    if (std::string e = auth::unlockUser(*store, name, address); !e.empty()) return fail(e);
    std::printf("user %s unlocked: its failed logins%s are forgotten\n", name.c_str(),
                address.empty() ? "" : (" and those of " + address).c_str());
    return 0;
  }
  std::vector<store::User> users;
  if (auto e = store->listUsers(users)) return fail("cannot list users: " + e.detail);
  for (const auto& u : users) std::printf("%s\t%s\t%s\n", u.userName.c_str(), u.role.c_str(), day(u.createdAt).c_str());
  return 0;
}

int apikeyCommand(const CommonOptions& common, const std::string& verb, const std::string& label) {
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  if (verb == "create") {
    std::string key;
    if (std::string e = auth::createApiKey(*store, label, key); !e.empty()) return fail(e);
    std::printf("%s\n", key.c_str());  // the only time the key is shown
    return 0;
  }
  if (verb == "revoke") {
    if (std::string e = auth::revokeApiKey(*store, label); !e.empty()) return fail(e);
    std::fprintf(stderr, "API key %s revoked with every token issued under it\n", label.c_str());
    return 0;
  }
  std::vector<store::ApiKey> keys;
  if (auto e = store->listApiKeys(keys)) return fail("cannot list API keys: " + e.detail);
  for (const auto& k : keys) std::printf("%s\t%s\t%s\n", k.label.c_str(), day(k.createdAt).c_str(), k.prefix.c_str());
  return 0;
}

// Every node polls the flag twice a second (api::Service), so the switch
// reaches the whole cluster within 2 s.
int maintenanceCommand(const CommonOptions& common, bool on, int64_t retryAfter) {
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  std::optional<std::string> value;
  if (on) value = std::to_string(retryAfter);
  store::Error failure;
  bool committed = store->runWrite([&](store::WriteTxn& txn) {
    failure = txn.putSetting("maintenance", value);
    return !failure;
  });
  if (failure || !committed) return fail("cannot switch maintenance " + std::string(on ? "on" : "off") + ": " +
                                         (failure.detail.empty() ? "the storage is unavailable" : failure.detail));
  if (on) std::printf("maintenance on: every node answers 503 with Retry-After: %lld\n", static_cast<long long>(retryAfter));
  else std::printf("maintenance off\n");
  return 0;
}

// Ctrl-C during export, import and backup: the copy stops at its next
// progress report and leaves nothing half-written. A second Ctrl-C kills.
// An atomic, not a sig_atomic_t: the progress reports that read it run on
// the store's writer thread (a lock-free atomic is safe in a handler too).
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void onInterrupt(int) {
  interrupted.store(true, std::memory_order_relaxed);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

void catchInterrupts() {
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
}

// Exit statuses of the copy commands: 1 a record or the storage failed, 2
// the command cannot start (unknown collection, unreadable or unwritable
// path), 130 interrupted (as a shell reports SIGINT).
constexpr int kExitBadData = 1, kExitUsage = 2, kExitInterrupted = 130;
constexpr int kBackupNiceness = 19;

int unknownCollection(const Config& config, const std::string& name) {
  std::string known;
  for (const auto& c : config.collections) known += (known.empty() ? "" : ", ") + c.name;
  std::fprintf(stderr, "restd: no collection \"%s\" in the configuration (collections: %s)\n", name.c_str(),
               known.empty() ? "none" : known.c_str());
  return kExitUsage;
}

int exportCommand(const CommonOptions& common, const std::string& collection, const std::string& outPath) {
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  const CollectionSpec* c = config->collection(collection);
  if (!c) return unknownCollection(*config, collection);
  // --out is written beside itself and renamed when complete.
  std::string partial = outPath.empty() ? "" : outPath + ".partial";
  std::FILE* out = stdout;
  if (!outPath.empty() && !(out = std::fopen(partial.c_str(), "w"))) {
    std::fprintf(stderr, "restd: cannot write %s: %s\n", outPath.c_str(), std::strerror(errno));
    return kExitUsage;
  }
  // No bar when the records themselves go to the same terminal.
  ProgressBar bar("export " + collection, ::isatty(2) && (out != stdout || !::isatty(1)));
  catchInterrupts();
  int64_t records = 0, bytes = 0;
  store::Error e = api::exportRecords(*store, *c, out, [&](const store::CopyProgress& p) {
    bar.update(p.done, p.total, p.bytes, "records");
    return !interrupted.load(std::memory_order_relaxed);
  }, records, bytes);
  store->close();
  if (out != stdout && std::fclose(out) != 0 && !e) e = {store::Status::unavailable, {}, std::strerror(errno)};
  if (!e && !partial.empty() && std::rename(partial.c_str(), outPath.c_str()) != 0)
    e = {store::Status::unavailable, {}, "cannot write " + outPath + ": " + std::strerror(errno)};
  if (e) {
    bar.clear();
    if (!partial.empty()) std::remove(partial.c_str());
    if (store::wasInterrupted(e)) {
      std::fprintf(stderr, "restd: export interrupted%s\n", outPath.empty() ? "" : (": " + outPath + " not written").c_str());
      return kExitInterrupted;
    }
    std::fprintf(stderr, "restd: export failed: %s\n", e.detail.c_str());
    return e.status == store::Status::unavailable ? kExitUsage : kExitBadData;
  }
  bar.finish("exported " + std::to_string(records) + " " + collection + " records (" + humanBytes(bytes) + ")" +
                 (outPath.empty() ? "" : " to " + outPath),
             records, "records");
  return 0;
}

int importCommand(const CommonOptions& common, const std::string& collection, const std::string& path,
                  const std::string& ownerName) {
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  const CollectionSpec* c = config->collection(collection);
  if (!c) return unknownCollection(*config, collection);
  std::FILE* in = std::fopen(path.c_str(), "r");
  struct stat st;
  if (!in || ::fstat(::fileno(in), &st) != 0 || S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "restd: cannot read %s: %s\n", path.c_str(), in ? "it is a directory" : std::strerror(errno));
    if (in) std::fclose(in);
    return kExitUsage;
  }
  std::string owner = ownerName;
  if (owner.empty()) {
    // The first admin (the oldest), SPEC §10.
    std::vector<store::User> users;
    if (auto e = store->listUsers(users)) {
      std::fclose(in);
      return fail("cannot read the users: " + e.detail);
    }
    const store::User* first = nullptr;
    for (const auto& u : users)
      if (u.role == "admin" && (!first || u.createdAt < first->createdAt)) first = &u;
    if (!first) {
      std::fclose(in);
      std::fprintf(stderr, "restd: no admin user to own the imported records: pass --owner NAME, or add one with "
                           "`restd user add NAME --role admin`\n");
      return kExitUsage;
    }
    owner = first->id;  // records name their owner by user id
  } else {
    store::User u;
    if (store->findUser(owner, u).status == store::Status::notFound) {
      std::fclose(in);
      std::fprintf(stderr, "restd: --owner %s: no such user\n", owner.c_str());
      return kExitUsage;
    }
    owner = u.id;
  }
  ProgressBar bar("import " + collection, ::isatty(2));
  catchInterrupts();
  int64_t fileBytes = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : 0;
  api::ImportResult r = api::importRecords(*store, *c, in, owner, config->server.maxBodyBytes,
                                           static_cast<int64_t>(config->server.maxBatchItems),
                                           [&](const store::CopyProgress& p) {
                                             bar.update(p.done, 0, p.bytes, "records", fileBytes);
                                             return !interrupted.load(std::memory_order_relaxed);
                                           });
  std::fclose(in);
  store->close();
  bar.clear();
  if (r.interrupted) {
    std::fprintf(stderr, "restd: import interrupted: nothing was imported\n");
    return kExitInterrupted;
  }
  if (!r.problem.empty()) {
    // One line: where, which field, the API's own message.
    std::string problem = r.problem;
    if (!problem.empty() && problem.back() != '.') problem.push_back('.');
    if (r.line > 0) std::fprintf(stderr, "restd: %s:%lld: %s Nothing was imported.\n", path.c_str(),
                                 static_cast<long long>(r.line), problem.c_str());
    else std::fprintf(stderr, "restd: import failed: %s Nothing was imported.\n", problem.c_str());
    return kExitBadData;
  }
  bar.finish("imported " + std::to_string(r.records) + " " + collection + " records from " + path, r.records,
             "records");
  return 0;
}

int backupCommand(const CommonOptions& common, const std::string& path, bool force, double maxMegabytesPerSecond) {
  // A backup yields the CPU to a server on the same machine (its threads,
  // made after this, inherit the niceness): with both busy, the server keeps
  // most of its speed and the copy takes longer (docs/operations.md).
  ::setpriority(PRIO_PROCESS, 0, kBackupNiceness);
  std::optional<Config> config;
  auto store = openForCommand(common, config);
  if (!store) return 1;
  ProgressBar bar("backup", ::isatty(2));
  catchInterrupts();
  int64_t records = 0, bytes = 0;
  bool copiedRecords = false;
  store::Error e = store->backup(*config, path, force, [&](const store::CopyProgress& p) {
    copiedRecords = std::string_view(p.unit) == "records";
    records = p.done;
    bar.update(p.done, p.total, p.bytes, p.unit);
    // Written pages become the kernel's writeback work, which no niceness
    // defers: pacing the copy keeps that from crowding out a busy server.
    while (maxMegabytesPerSecond > 0 && p.bytes > 0 && !interrupted.load(std::memory_order_relaxed)) {
      double ahead = double(p.bytes) / (maxMegabytesPerSecond * 1e6) - bar.elapsedSeconds();
      if (ahead <= 0) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(ahead, 0.1)));  // Ctrl-C stays prompt
    }
    return !interrupted.load(std::memory_order_relaxed);
  });
  store->close();
  bar.clear();
  if (e) {
    if (store::wasInterrupted(e)) {
      std::fprintf(stderr, "restd: backup interrupted: %s not written\n", path.c_str());
      return kExitInterrupted;
    }
    std::fprintf(stderr, "restd: backup failed: %s\n", e.detail.c_str());
    return e.status == store::Status::unavailable ? kExitUsage : kExitBadData;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) bytes = st.st_size;
  bar.finish("backed up the " + std::string(store->engine()) + " storage into " + path + " (" +
                 (copiedRecords ? std::to_string(records) + " records, " : "") + humanBytes(bytes) +
                 "; serve it with --storage sqlite:" + path + ")",
             copiedRecords ? records : bytes, copiedRecords ? "records" : "bytes");
  return 0;
}

int init(const std::string& dir, const std::string& configPath, const std::string& storage) {
  // --config names the file to write; otherwise DIR/restd.toml.
  std::filesystem::path path = !configPath.empty() ? std::filesystem::path(configPath)
                                                   : std::filesystem::path(dir.empty() ? "." : dir) / "restd.toml";
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "restd: %s already exists; not overwriting it\n", path.c_str());
    return 1;
  }
  // --storage goes into the file (its url line), checked as the server will read it.
  std::string text(initConfigToml());
  if (!storage.empty()) {
    auto url = normalizeStorageUrl(storage);
    if (!url) {
      std::fprintf(stderr, "restd: --storage: \"%s\" is not a storage URL (sqlite:PATH, sqlite::memory: or "
                   "postgres://...)\n", storage.c_str());
      return 2;
    }
    std::string quoted;
    for (char c : *url) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    const std::string line = "url = \"sqlite:restd.db\"";
    size_t at = text.find(line);
    text.replace(at, line.size(), "url = \"" + quoted + "\"");
    ConfigErrors errors;
    if (!parseConfig(text, path.string(), errors)) {
      printErrors(errors);
      return 2;
    }
  }
  std::ofstream out(path);
  out << text;
  if (!out.good()) {
    std::fprintf(stderr, "restd: cannot write %s\n", path.c_str());
    return 1;
  }
  std::printf("wrote %s; start the server with: restd serve --config %s\n", path.c_str(), path.c_str());
  return 0;
}

int checkConfig(const CommonOptions& common) {
  std::string path = resolveConfigPath(common);
  if (path.empty()) {
    std::fprintf(stderr, "restd: no configuration file: pass --config FILE or set RESTD_CONFIG\n");
    return 1;
  }
  ConfigErrors errors;
  auto config = loadConfigFile(path, errors);
  if (config) {
    ConfigOverrides flags;
    if (!common.storage.empty()) flags.storage = common.storage;
    if (!applyOverrides(*config, flags, errors)) config.reset();
  }
  if (!config) {
    printErrors(errors);
    return 1;
  }
  std::printf("%s: ok (%zu collections)\n", path.c_str(), config->collections.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"restd: a REST API server for the collections you declare in one TOML file.\n"
               "Docs: README.md and docs/ in the source tree; /docs on a running server."};
  app.require_subcommand(1);
  app.set_version_flag("--version", RESTD_VERSION);
  CommonOptions common;
  auto addCommon = [&](CLI::App* cmd) {
    cmd->add_option("--config", common.configPath, "TOML configuration file (default: $RESTD_CONFIG, else ./restd.toml)");
    cmd->add_option("--storage", common.storage, "storage URL: sqlite:PATH, sqlite::memory:, postgres://… (overrides the config)");
  };

  std::string listen;
  int threads = -1;
  bool demo = false;
  bool allowDestructive = false;
  auto* serveCmd = app.add_subcommand("serve", "Run the HTTP server");
  addCommon(serveCmd);
  serveCmd->add_option("--listen", listen, "HOST:PORT to listen on (overrides config and $RESTD_LISTEN)");
  serveCmd->add_option("--threads", threads, "I/O threads; 0 = one per core")->check(CLI::Range(0, 1024));
  serveCmd->add_flag("--demo", demo, "run without a config file: demo collections in ./restd-demo.db");
  serveCmd->add_flag("--allow-destructive-migration", allowDestructive,
                     "apply schema changes that drop data (removed fields, changed types)");

  std::string initDir;
  auto* initCmd = app.add_subcommand("init", "Write a commented restd.toml with an example collection");
  initCmd->add_option("DIR", initDir, "directory to write restd.toml into (default: current directory)");
  addCommon(initCmd);

  auto* checkCmd = app.add_subcommand("check-config", "Validate the configuration; errors name file:line:column");
  addCommon(checkCmd);

  auto* versionCmd = app.add_subcommand("version", "Print the version");
  addCommon(versionCmd);  // accepted like every command's (SPEC §1), but unused: not listed in its help
  for (const char* o : {"--config", "--storage"}) versionCmd->get_option(o)->group("");

  std::string userName, role;
  auto* userCmd = app.add_subcommand("user", "Manage users (password from $RESTD_PASSWORD or the first line of stdin)");
  userCmd->require_subcommand(1);
  auto* userAdd = userCmd->add_subcommand("add", "Add a user");
  userAdd->add_option("NAME", userName, "user name")->required();
  userAdd->add_option("--role", role, "admin, writer or reader")->required()->check(
      CLI::IsMember({"admin", "writer", "reader"}));
  auto* userList = userCmd->add_subcommand("list", "List users: name, role, creation date");
  auto* userRemove = userCmd->add_subcommand("remove", "Remove a user and revoke its tokens");
  userRemove->add_option("NAME", userName, "user name")->required();
  auto* userPasswd = userCmd->add_subcommand("passwd", "Change a user's password and revoke its tokens");
  userPasswd->add_option("NAME", userName, "user name")->required();
  std::string unlockAddress;
  auto* userUnlock = userCmd->add_subcommand("unlock", "End a login lock-out: forget the user's failed logins");
  userUnlock->add_option("NAME", userName, "user name")->required();
  userUnlock->add_option("--address", unlockAddress, "also forget this client address's failed logins (e.g. 127.0.0.1)");
  for (auto* c : {userAdd, userList, userRemove, userPasswd, userUnlock}) addCommon(c);

  std::string label;
  auto* keyCmd = app.add_subcommand("apikey", "Manage API keys");
  keyCmd->require_subcommand(1);
  auto* keyCreate = keyCmd->add_subcommand("create", "Create an API key and print it (shown only this once)");
  keyCreate->add_option("--name", label, "a unique label for the key")->required();
  auto* keyList = keyCmd->add_subcommand("list", "List API keys: label, creation date, first 6 characters");
  auto* keyRevoke = keyCmd->add_subcommand("revoke", "Revoke an API key and every token issued under it");
  keyRevoke->add_option("LABEL", label, "the key's label")->required();
  for (auto* c : {keyCreate, keyList, keyRevoke}) addCommon(c);

  int64_t retryAfter = 60;
  auto* maintenanceCmd = app.add_subcommand("maintenance", "Switch maintenance mode on or off for every node");
  maintenanceCmd->require_subcommand(1);
  auto* maintenanceOn = maintenanceCmd->add_subcommand("on", "Answer 503 maintenance on every API path");
  maintenanceOn->add_option("--retry-after", retryAfter, "the Retry-After seconds sent with the 503 (default 60)")
      ->check(CLI::Range(int64_t{0}, int64_t{86400 * 365}));
  auto* maintenanceOff = maintenanceCmd->add_subcommand("off", "Serve requests again");
  for (auto* c : {maintenanceOn, maintenanceOff}) addCommon(c);

  std::string collection, transferPath, ownerName;
  bool force = false;
  auto* exportCmd = app.add_subcommand("export", "Write a collection's records as JSON Lines (progress on a terminal)");
  exportCmd->add_option("COLLECTION", collection, "the collection")->required();
  exportCmd->add_option("--out", transferPath, "the file to write (default: standard output)");
  std::string importPath;
  auto* importCmd = app.add_subcommand("import", "Add records from JSON Lines, all or nothing (progress on a terminal)");
  importCmd->add_option("COLLECTION", collection, "the collection")->required();
  importCmd->add_option("FILE", importPath, "JSON Lines, as export writes them")->required();
  importCmd->add_option("--owner", ownerName, "owner of records without one (default: the first admin)");
  std::string backupPath;
  auto* backupCmd = app.add_subcommand("backup", "Write a consistent SQLite copy of everything while the server runs");
  backupCmd->add_option("PATH", backupPath, "the SQLite database file to write")->required();
  backupCmd->add_flag("--force", force, "overwrite PATH if it exists");
  double backupRate = 100;
  backupCmd->add_option("--max-rate", backupRate, "copy at most this many MB/s of a SQLite file (0: no limit; default 100)")
      ->check(CLI::Range(0.0, 1e6));
  for (auto* c : {exportCmd, importCmd, backupCmd}) {
    addCommon(c);
    c->add_flag("--demo", common.demo, "use the demo's collections and ./restd-demo.db (as serve --demo)");
  }

  if (argc < 2) {  // no command: what the commands are, on standard output
    std::fputs(app.help().c_str(), stdout);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line on standard error (SPEC §1), not CLI11's message plus its footer.
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    what += suggestion(app, argc, argv);
    std::fprintf(stderr, "restd: %s (see restd --help)\n", what.c_str());
    return 2;
  }
  if (!auth::initCrypto()) return fail("cannot initialise libsodium");
  if (*serveCmd) {
    // Request bodies and batch replies are often a few hundred KiB: let glibc
    // reuse such blocks instead of mapping and unmapping fresh pages for each.
    mallopt(M_MMAP_THRESHOLD, 16 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    return serve(common, demo, listen, threads, allowDestructive);
  }
  if (*userCmd) {
    for (auto [cmd, verb] : {std::pair{userAdd, "add"}, {userList, "list"}, {userRemove, "remove"}, {userPasswd, "passwd"},
                             {userUnlock, "unlock"}})
      if (*cmd) return userCommand(common, verb, userName, role, unlockAddress);
  }
  if (*keyCmd) {
    for (auto [cmd, verb] : {std::pair{keyCreate, "create"}, {keyList, "list"}, {keyRevoke, "revoke"}})
      if (*cmd) return apikeyCommand(common, verb, label);
  }
  if (*maintenanceCmd) return maintenanceCommand(common, static_cast<bool>(*maintenanceOn), retryAfter);
  if (*exportCmd) return exportCommand(common, collection, transferPath);
  if (*importCmd) return importCommand(common, collection, importPath, ownerName);
  if (*backupCmd) return backupCommand(common, backupPath, force, backupRate);
  if (*initCmd) return init(initDir, common.configPath, common.storage);
  if (*checkCmd) return checkConfig(common);
  if (*versionCmd) {
    std::printf("restd %s\n", RESTD_VERSION);
    return 0;
  }
  return 1;
}
