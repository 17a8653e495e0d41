// UTF-8 checks for text that enters the program from a client (request
// targets, header values, percent-decoded path and form text). Invalid
// sequences become U+FFFD there, so nothing downstream (JSON and XML
// rendering, the access log) ever sees bytes that are not UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace restd {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF). Linear; a pure-ASCII text is checked
// a word at a time.
bool isValidUtf8(std::string_view text);

// Appends `text` to `out` with every maximal ill-formed subsequence replaced by
// U+FFFD (the Unicode "substitution of maximal subparts" practice).
void appendSanitizedUtf8(std::string& out, std::string_view text);

// `text` itself when valid, else a sanitised copy in `storage` (returned as a view of it).
std::string_view sanitizedUtf8(std::string_view text, std::string& storage);

}  // namespace restd
