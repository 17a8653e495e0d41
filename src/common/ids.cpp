#include "common/ids.h"

#include <sodium.h>

#include <cstdint>

namespace restd {
namespace {

struct Xoshiro {
  uint64_t s[4];
  Xoshiro() { randombytes_buf(s, sizeof s); }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
  }
};

}  // namespace

void newRequestId(std::string& id) {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  thread_local Xoshiro rng;
  id.assign(20, '0');
  uint64_t a = rng.next(), b = rng.next();
  for (int i = 0; i < 10; ++i) {
    id[i] = kAlphabet[a % 36];
    a /= 36;
    id[10 + i] = kAlphabet[b % 36];
    b /= 36;
  }
}

bool isSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace restd
