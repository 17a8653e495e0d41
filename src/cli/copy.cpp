// restd export, import and backup: copies of the data, with progress on a
// terminal and Ctrl-C that leaves nothing half-written.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "api/transfer.h"
#include "cli/cli.h"
#include "common/progress.h"
#include "http/access_log.h"

namespace restd::cli {
namespace {

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
  Status e = api::exportRecords(*store, *c, out, [&](const store::CopyProgress& p) {
    bar.update(p.done, p.total, p.bytes, "records");
    return !interrupted.load(std::memory_order_relaxed);
  }, records, bytes);
  store->close();
  if (out != stdout && std::fclose(out) != 0 && !e) e = {StatusCode::unavailable, {}, std::strerror(errno)};
  if (!e && !partial.empty() && std::rename(partial.c_str(), outPath.c_str()) != 0)
    e = {StatusCode::unavailable, {}, "cannot write " + outPath + ": " + std::strerror(errno)};
  if (e) {
    bar.clear();
    if (!partial.empty()) std::remove(partial.c_str());
    if (store::wasInterrupted(e)) {
      std::fprintf(stderr, "restd: export interrupted%s\n", outPath.empty() ? "" : (": " + outPath + " not written").c_str());
      return kExitInterrupted;
    }
    std::fprintf(stderr, "restd: export failed: %s\n", e.detail.c_str());
    return e.code == StatusCode::unavailable ? kExitUsage : kExitBadData;
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
    if (store->findUser(owner, u).code == StatusCode::notFound) {
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
  Status e = store->backup(*config, path, force, [&](const store::CopyProgress& p) {
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
    return e.code == StatusCode::unavailable ? kExitUsage : kExitBadData;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) bytes = st.st_size;
  bar.finish("backed up the " + std::string(store->engine()) + " storage into " + path + " (" +
                 (copiedRecords ? std::to_string(records) + " records, " : "") + humanBytes(bytes) +
                 "; serve it with --storage sqlite:" + path + ")",
             copiedRecords ? records : bytes, copiedRecords ? "records" : "bytes");
  return 0;
}

}  // namespace

void addCopyCommands(CLI::App& app, CommonOptions& common, Run& chosen) {
  struct Options {
    std::string collection, transferPath, ownerName, importPath, backupPath;
    bool force = false;
    double backupRate = 100;
  };
  auto o = std::make_shared<Options>();
  auto* exportCmd = app.add_subcommand("export", "Write a collection's records as JSON Lines (progress on a terminal)");
  exportCmd->add_option("COLLECTION", o->collection, "the collection")->required();
  exportCmd->add_option("--out", o->transferPath, "the file to write (default: standard output)");
  exportCmd->callback([&chosen, &common, o] {
    chosen = [&common, o] { return exportCommand(common, o->collection, o->transferPath); };
  });
  auto* importCmd = app.add_subcommand("import", "Add records from JSON Lines, all or nothing (progress on a terminal)");
  importCmd->add_option("COLLECTION", o->collection, "the collection")->required();
  importCmd->add_option("FILE", o->importPath, "JSON Lines, as export writes them")->required();
  importCmd->add_option("--owner", o->ownerName, "owner of records without one (default: the first admin)");
  importCmd->callback([&chosen, &common, o] {
    chosen = [&common, o] { return importCommand(common, o->collection, o->importPath, o->ownerName); };
  });
  auto* backupCmd = app.add_subcommand("backup", "Write a consistent SQLite copy of everything while the server runs");
  backupCmd->add_option("PATH", o->backupPath, "the SQLite database file to write")->required();
  backupCmd->add_flag("--force", o->force, "overwrite PATH if it exists");
  backupCmd->add_option("--max-rate", o->backupRate,
                        "copy at most this many MB/s of a SQLite file (0: no limit; default 100)")
      ->check(CLI::Range(0.0, 1e6));
  backupCmd->callback([&chosen, &common, o] {
    chosen = [&common, o] { return backupCommand(common, o->backupPath, o->force, o->backupRate); };
  });
  for (auto* c : {exportCmd, importCmd, backupCmd}) {
    addCommonOptions(c, common);
    c->add_flag("--demo", common.demo, "use the demo's collections and ./restd-demo.db (as serve --demo)");
  }
}

}  // namespace restd::cli
