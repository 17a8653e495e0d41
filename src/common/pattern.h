// Regular expressions for field `pattern` rules, on PCRE2.
//
// Why not std::regex: its matcher recurses per character and can exhaust the
// stack on long input, and it has no backtracking limit. PCRE2 matches
// without recursion on the stack and stops at a match limit (a value that
// hits the limit does not match).
// A compiled Pattern is immutable and may be shared between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace restd {

class Pattern {
 public:
  // Compiles `source` (UTF-8, Perl/ECMAScript-style syntax). On failure
  // returns nullopt and sets `error` to PCRE2's message with its offset.
  static std::optional<Pattern> compile(std::string_view source, std::string& error);

  // True when `text` contains a match (anchor with ^…$ to match whole values).
  bool matches(std::string_view text) const;
  const std::string& source() const { return source_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string source_;
};

}  // namespace restd
