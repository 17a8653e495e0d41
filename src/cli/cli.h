// The command line's parts (main.cpp builds the CLI11 app from them). Each
// add*Commands() adds its subcommands to `app`; when one of them is chosen,
// parsing sets `chosen` to what runs it, and main() returns its exit status.
// Single-threaded until a command starts its own threads.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "store/store.h"

namespace restd::cli {

struct CommonOptions {
  std::string configPath;   // --config
  std::string storage;      // --storage
  bool demo = false;        // --demo: the demo's collections and ./restd-demo.db (copy commands)
};

using Run = std::function<int()>;

// serve, init, check-config, version (serve.cpp)
void addServerCommands(CLI::App& app, CommonOptions& common, Run& chosen);
// user, apikey, maintenance (accounts.cpp)
void addAccountCommands(CLI::App& app, CommonOptions& common, Run& chosen);
// export, import, backup (copy.cpp)
void addCopyCommands(CLI::App& app, CommonOptions& common, Run& chosen);

// --config and --storage, which every command takes (SPEC §1).
void addCommonOptions(CLI::App* command, CommonOptions& common);

// "; did you mean ..." for the first argument that CLI11 did not expect
// (an unknown command or option), or "".
std::string suggestion(CLI::App& app, int argc, char** argv);

// What the commands share (common.cpp).
void printErrors(const ConfigErrors& errors);
std::string redactedStorageUrl(const std::string& url);
std::string resolveConfigPath(const CommonOptions& o);
// Opens the configured storage; says so on standard error when that
// creates a new SQLite file (a mistyped path would otherwise go unnoticed).
std::unique_ptr<store::Store> openStorage(const Config& config, std::string& error);
// The configuration a command runs with (the demo's, or the file's), with
// the overrides applied; nullopt after printing why not.
std::optional<Config> loadForCommand(const CommonOptions& o, bool demo, const ConfigOverrides& flags);
// The configuration and storage for account commands: like serve, but a
// --storage without any config file is enough.
std::unique_ptr<store::Store> openForCommand(const CommonOptions& common, std::optional<Config>& config);
// "restd: MESSAGE" on standard error; returns 1.
int fail(const std::string& message);

}  // namespace restd::cli
