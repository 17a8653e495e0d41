// `restd export` and `restd import` (SPEC §10 CLI): one collection as JSON
// Lines, one record per line as the `standard` profile renders it, with
// every system field. Export reads one snapshot; import validates each line
// exactly as a POST would and writes every record, with the change feed's
// events, in one transaction, or nothing. Both hold a bounded number of
// records in memory. Used by one thread (the command line's).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "config/config.h"
#include "store/store.h"

namespace restd::api {

// Writes every record of `c` to `out`. `progress` sees records and bytes;
// returning false stops the export (Error detail "interrupted").
Status exportRecords(store::Store& store, const CollectionSpec& c, std::FILE* out,
                           const store::ProgressFn& progress, int64_t& records, int64_t& bytes);

struct ImportResult {
  int64_t records = 0;    // imported (0 unless everything was)
  int64_t line = 0;       // the line that stopped the import; 0 when none did
  std::string problem;    // why nothing was imported: "FIELD: message", or the storage's error
  bool interrupted = false;
};

// Imports the JSON Lines of `in` into `c` (`progress` sees records and the
// bytes read). Records keep the system fields their line has (`id`, `slug`,
// `createdAt`, `updatedAt`, `version`, `owner`); the rest are given as for a
// new record, with `defaultOwner` as the owner. A line longer than
// `maxLineBytes` is refused like a body over max_body_bytes. The change feed
// gets a `created` event per record when at most `maxEventRecords` are
// imported (the largest batch a client may POST), else one `reset` event
// (reason bulk_import): a million events would flood every subscriber.
ImportResult importRecords(store::Store& store, const CollectionSpec& c, std::FILE* in,
                           const std::string& defaultOwner, size_t maxLineBytes, int64_t maxEventRecords,
                           const store::ProgressFn& progress);

}  // namespace restd::api
