// restd serve, init, check-config and version: wiring the layers into a
// running server, and the configuration file.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "api/service.h"
#include "cli/cli.h"
#include "http/access_log.h"
#include "http/server.h"

namespace restd::cli {
namespace {

// Long by design: the layers wired in the order they start and stop;
// split up, that one sequence would be scattered.
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
    if (store->findUser("api", existing).code == StatusCode::notFound) {
      if (Status e = auth::addUser(*store, "api", auth::Role::admin, "api")) {
        std::fprintf(stderr, "restd: cannot create the demo user: %s\n", e.detail.c_str());
        return 1;
      }
    }
    std::string key = "demo-key";
    Status keyError = auth::createApiKey(*store, "demo", key);
    if (keyError && keyError.code != StatusCode::uniqueViolation) {  // made by an earlier --demo: fine
      std::fprintf(stderr, "restd: cannot create the demo API key: %s\n", keyError.detail.c_str());
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

void addServerCommands(CLI::App& app, CommonOptions& common, Run& chosen) {
  struct Options {
    std::string listen;
    int threads = -1;
    bool demo = false;
    bool allowDestructive = false;
    std::string initDir;
  };
  auto o = std::make_shared<Options>();
  auto* serveCmd = app.add_subcommand("serve", "Run the HTTP server");
  addCommonOptions(serveCmd, common);
  serveCmd->add_option("--listen", o->listen, "HOST:PORT to listen on (overrides config and $RESTD_LISTEN)");
  serveCmd->add_option("--threads", o->threads, "I/O threads; 0 = one per core")->check(CLI::Range(0, 1024));
  serveCmd->add_flag("--demo", o->demo, "run without a config file: demo collections in ./restd-demo.db");
  serveCmd->add_flag("--allow-destructive-migration", o->allowDestructive,
                     "apply schema changes that drop data (removed fields, changed types)");
  serveCmd->callback([&chosen, &common, o] {
    chosen = [&common, o] {
      // Request bodies and batch replies are often a few hundred KiB: let glibc
      // reuse such blocks instead of mapping and unmapping fresh pages for each.
      mallopt(M_MMAP_THRESHOLD, 16 << 20);
      mallopt(M_TRIM_THRESHOLD, 64 << 20);
      return serve(common, o->demo, o->listen, o->threads, o->allowDestructive);
    };
  });

  auto* initCmd = app.add_subcommand("init", "Write a commented restd.toml with an example collection");
  initCmd->add_option("DIR", o->initDir, "directory to write restd.toml into (default: current directory)");
  addCommonOptions(initCmd, common);
  initCmd->callback([&chosen, &common, o] {
    chosen = [&common, o] { return init(o->initDir, common.configPath, common.storage); };
  });

  auto* checkCmd = app.add_subcommand("check-config", "Validate the configuration; errors name file:line:column");
  addCommonOptions(checkCmd, common);
  checkCmd->callback([&chosen, &common] { chosen = [&common] { return checkConfig(common); }; });

  auto* versionCmd = app.add_subcommand("version", "Print the version");
  addCommonOptions(versionCmd, common);  // accepted like every command's (SPEC §1), but unused: not listed in its help
  for (const char* name : {"--config", "--storage"}) versionCmd->get_option(name)->group("");
  versionCmd->callback([&chosen] {
    chosen = [] {
      std::printf("restd %s\n", RESTD_VERSION);
      return 0;
    };
  });
}

}  // namespace restd::cli
