// The outcome of an operation that can fail in an expected way, one type
// across store/, auth/ and api/: ok, or a code with the field it concerns
// and a detail for the log (never for a client; api::Service::storeError
// maps a Status to the API's ErrorObject). [[nodiscard]]: a Status may not
// be dropped; where ignoring one is right, cast it to void and say why.
//
// `if (Status s = f()) return s;` reads "if f failed": the conversion to
// bool is true for a failure.
#pragma once

#include <string>
#include <utility>

namespace restd {

enum class StatusCode {
  ok,
  notFound,
  uniqueViolation,   // `field` names the field
  unavailable,       // storage unreachable, read-only, vanished, full
  internal,          // a bug or corruption; `detail` is for the log only
  invalid,           // the caller's input was refused; `detail` says why, fit for a person
};

struct [[nodiscard]] Status {
  StatusCode code = StatusCode::ok;
  std::string field;
  std::string detail;

  static Status ok() { return {}; }
  static Status failure(StatusCode c, std::string why) { return {c, {}, std::move(why)}; }
  bool failed() const { return code != StatusCode::ok; }
  explicit operator bool() const { return failed(); }
};

}  // namespace restd
