#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "common/time.h"

namespace restd::cli {

void addCommonOptions(CLI::App* cmd, CommonOptions& common) {
  cmd->add_option("--config", common.configPath, "TOML configuration file (default: $RESTD_CONFIG, else ./restd.toml)");
  cmd->add_option("--storage", common.storage, "storage URL: sqlite:PATH, sqlite::memory:, postgres://… (overrides the config)");
}

void printErrors(const ConfigErrors& errors) {
  for (const auto& m : errors.messages) std::fprintf(stderr, "%s\n", m.c_str());
}


// A storage URL fit for a log line: a PostgreSQL URL's password is hidden.
std::string redactedStorageUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// The config file to use: --config, else RESTD_CONFIG, else ./restd.toml if present.
std::string resolveConfigPath(const CommonOptions& o) {
  if (!o.configPath.empty()) return o.configPath;
  if (const char* e = std::getenv("RESTD_CONFIG"); e && *e) return e;
  if (std::filesystem::exists("restd.toml")) return "restd.toml";
  return {};
}

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

int fail(const std::string& message) {
  std::fprintf(stderr, "restd: %s\n", message.c_str());
  return 1;
}


}  // namespace restd::cli
