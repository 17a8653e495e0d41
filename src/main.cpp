// restd's command line: parse, load config, wire the layers, run.
#include <algorithm>
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/service.h"
#include "auth/authenticator.h"
#include "auth/credentials.h"
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

std::optional<Config> loadForCommand(const CommonOptions& o, bool demo, const ConfigOverrides& flags) {
  ConfigErrors errors;
  std::optional<Config> config;
  if (demo) {
    config = parseConfig(demoConfigToml(), "<demo>", errors);
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
  auto store = store::openStore(*config, error);
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
  if (resolveConfigPath(common).empty() && !common.storage.empty()) {
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
  auto store = store::openStore(*config, error);
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
                const std::string& role) {
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

int init(const std::string& dir, const std::string& configPath) {
  // --config names the file to write; otherwise DIR/restd.toml.
  std::filesystem::path path = !configPath.empty() ? std::filesystem::path(configPath)
                                                   : std::filesystem::path(dir.empty() ? "." : dir) / "restd.toml";
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "restd: %s already exists; not overwriting it\n", path.c_str());
    return 1;
  }
  std::ofstream out(path);
  out << initConfigToml();
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
  addCommon(versionCmd);  // accepted like every command's; nothing to configure

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
  for (auto* c : {userAdd, userList, userRemove, userPasswd}) addCommon(c);

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
    for (auto [cmd, verb] : {std::pair{userAdd, "add"}, {userList, "list"}, {userRemove, "remove"}, {userPasswd, "passwd"}})
      if (*cmd) return userCommand(common, verb, userName, role);
  }
  if (*keyCmd) {
    for (auto [cmd, verb] : {std::pair{keyCreate, "create"}, {keyList, "list"}, {keyRevoke, "revoke"}})
      if (*cmd) return apikeyCommand(common, verb, label);
  }
  if (*maintenanceCmd) return maintenanceCommand(common, static_cast<bool>(*maintenanceOn), retryAfter);
  if (*initCmd) return init(initDir, common.configPath);
  if (*checkCmd) return checkConfig(common);
  if (*versionCmd) {
    std::printf("restd %s\n", RESTD_VERSION);
    return 0;
  }
  return 1;
}
