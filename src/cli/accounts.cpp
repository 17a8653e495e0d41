// restd user, apikey and maintenance: accounts and the shared settings,
// straight in the storage (the server need not run).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "auth/authenticator.h"
#include "cli/cli.h"
#include "common/time.h"

namespace restd::cli {
namespace {

std::optional<std::string> readPassword() {
  if (const char* e = std::getenv("RESTD_PASSWORD")) return std::string(e);
  std::string line;
  if (!std::getline(std::cin, line) && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
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
    Status e = verb == "add" ? auth::addUser(*store, name, *r, *password) : auth::setPassword(*store, name, *password);
    if (e) return fail(e.detail);
    std::printf(verb == "add" ? "user %s added\n" : "password of %s changed; its tokens are revoked\n", name.c_str());
    return 0;
  }
  if (verb == "remove") {
    if (Status e = auth::removeUser(*store, name)) return fail(e.detail);
    std::printf("user %s removed\n", name.c_str());
    return 0;
  }
  if (verb == "unlock") {
    if (Status e = auth::unlockUser(*store, name, address)) return fail(e.detail);
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
    if (Status e = auth::createApiKey(*store, label, key)) return fail(e.detail);
    std::printf("%s\n", key.c_str());  // the only time the key is shown
    return 0;
  }
  if (verb == "revoke") {
    if (Status e = auth::revokeApiKey(*store, label)) return fail(e.detail);
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
  Status failure;
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

}  // namespace

void addAccountCommands(CLI::App& app, CommonOptions& common, Run& chosen) {
  struct Options {
    std::string userName, role, unlockAddress, label;
    int64_t retryAfter = 60;
  };
  auto o = std::make_shared<Options>();
  auto* userCmd = app.add_subcommand("user", "Manage users (password from $RESTD_PASSWORD or the first line of stdin)");
  userCmd->require_subcommand(1);
  auto* userAdd = userCmd->add_subcommand("add", "Add a user");
  userAdd->add_option("NAME", o->userName, "user name")->required();
  userAdd->add_option("--role", o->role, "admin, writer or reader")->required()->check(
      CLI::IsMember({"admin", "writer", "reader"}));
  auto* userList = userCmd->add_subcommand("list", "List users: name, role, creation date");
  auto* userRemove = userCmd->add_subcommand("remove", "Remove a user and revoke its tokens");
  userRemove->add_option("NAME", o->userName, "user name")->required();
  auto* userPasswd = userCmd->add_subcommand("passwd", "Change a user's password and revoke its tokens");
  userPasswd->add_option("NAME", o->userName, "user name")->required();
  auto* userUnlock = userCmd->add_subcommand("unlock", "End a login lock-out: forget the user's failed logins");
  userUnlock->add_option("NAME", o->userName, "user name")->required();
  userUnlock->add_option("--address", o->unlockAddress, "also forget this client address's failed logins (e.g. 127.0.0.1)");
  for (auto [cmd, verb] : {std::pair{userAdd, "add"}, {userList, "list"}, {userRemove, "remove"}, {userPasswd, "passwd"},
                           {userUnlock, "unlock"}}) {
    addCommonOptions(cmd, common);
    cmd->callback([&chosen, &common, o, verb = std::string(verb)] {
      chosen = [&common, o, verb] { return userCommand(common, verb, o->userName, o->role, o->unlockAddress); };
    });
  }

  auto* keyCmd = app.add_subcommand("apikey", "Manage API keys");
  keyCmd->require_subcommand(1);
  auto* keyCreate = keyCmd->add_subcommand("create", "Create an API key and print it (shown only this once)");
  keyCreate->add_option("--name", o->label, "a unique label for the key")->required();
  auto* keyList = keyCmd->add_subcommand("list", "List API keys: label, creation date, first 6 characters");
  auto* keyRevoke = keyCmd->add_subcommand("revoke", "Revoke an API key and every token issued under it");
  keyRevoke->add_option("LABEL", o->label, "the key's label")->required();
  for (auto [cmd, verb] : {std::pair{keyCreate, "create"}, {keyList, "list"}, {keyRevoke, "revoke"}}) {
    addCommonOptions(cmd, common);
    cmd->callback([&chosen, &common, o, verb = std::string(verb)] {
      chosen = [&common, o, verb] { return apikeyCommand(common, verb, o->label); };
    });
  }

  auto* maintenanceCmd = app.add_subcommand("maintenance", "Switch maintenance mode on or off for every node");
  maintenanceCmd->require_subcommand(1);
  auto* maintenanceOn = maintenanceCmd->add_subcommand("on", "Answer 503 maintenance on every API path");
  maintenanceOn->add_option("--retry-after", o->retryAfter, "the Retry-After seconds sent with the 503 (default 60)")
      ->check(CLI::Range(int64_t{0}, int64_t{86400 * 365}));
  auto* maintenanceOff = maintenanceCmd->add_subcommand("off", "Serve requests again");
  for (auto [cmd, on] : {std::pair{maintenanceOn, true}, {maintenanceOff, false}}) {
    addCommonOptions(cmd, common);
    cmd->callback([&chosen, &common, o, on = on] {
      chosen = [&common, o, on] { return maintenanceCommand(common, on, o->retryAfter); };
    });
  }
}

}  // namespace restd::cli
