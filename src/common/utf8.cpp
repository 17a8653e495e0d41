#include "common/utf8.h"

#include <cstdint>
#include <cstring>

namespace restd {
namespace {

// Length of the well-formed sequence starting at `p` (1-4), or 0 when the
// bytes there are not one; `n` is how many bytes remain. On 0, `bad` is the
// length of the maximal ill-formed subpart to replace (at least 1).
size_t sequenceLength(const unsigned char* p, size_t n, size_t& bad) {
  unsigned char c = p[0];
  bad = 1;
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) need = 2;
  else if (c == 0xE0) need = 3, lo = 0xA0;
  else if (c == 0xED) need = 3, hi = 0x9F;  // no surrogates
  else if (c >= 0xE1 && c <= 0xEF) need = 3;
  else if (c == 0xF0) need = 4, lo = 0x90;
  else if (c == 0xF4) need = 4, hi = 0x8F;  // nothing above U+10FFFF
  else if (c >= 0xF1 && c <= 0xF3) need = 4;
  else return 0;
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return 0;
    unsigned char b = p[i];
    unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) return 0;
    bad = i + 1;
  }
  return need;
}

bool asciiWord(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return (w & 0x8080808080808080ULL) == 0;
}

}  // namespace

bool isValidUtf8(std::string_view text) {
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    if (i + 8 <= n && asciiWord(p + i)) {
      i += 8;
      continue;
    }
    size_t bad;
    size_t len = sequenceLength(p + i, n - i, bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

void appendSanitizedUtf8(std::string& out, std::string_view text) {
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0, start = 0;
  while (i < n) {
    size_t bad;
    size_t len = sequenceLength(p + i, n - i, bad);
    if (len) {
      i += len;
      continue;
    }
    out.append(text.data() + start, i - start);
    out.append("\xEF\xBF\xBD");
    i += bad;
    start = i;
  }
  out.append(text.data() + start, n - start);
}

std::string_view sanitizedUtf8(std::string_view text, std::string& storage) {
  if (isValidUtf8(text)) return text;
  storage.clear();
  appendSanitizedUtf8(storage, text);
  return storage;
}

}  // namespace restd
