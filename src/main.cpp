// restd's command line: the CLI11 app from the commands in cli/, then the
// chosen command's exit status.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "auth/credentials.h"
#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace restd;
  CLI::App app{"restd: a REST API server for the collections you declare in one TOML file.\n"
               "Docs: README.md and docs/ in the source tree; /docs on a running server."};
  app.require_subcommand(1);
  app.set_version_flag("--version", RESTD_VERSION);
  cli::CommonOptions common;
  cli::Run chosen;
  cli::addServerCommands(app, common, chosen);
  cli::addAccountCommands(app, common, chosen);
  cli::addCopyCommands(app, common, chosen);

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
    what += cli::suggestion(app, argc, argv);
    std::fprintf(stderr, "restd: %s (see restd --help)\n", what.c_str());
    return 2;
  }
  if (!auth::initCrypto()) return cli::fail("cannot initialise libsodium");
  return chosen ? chosen() : 1;
}
