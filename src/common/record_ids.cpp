#include "common/record_ids.h"

#include <sodium.h>

#include <chrono>
#include <mutex>

namespace restd {
namespace {

constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

struct Generator {
  std::mutex mutex;
  uint64_t lastMillis = 0;
  uint64_t randA = 0;  // 12 bits
  uint64_t randB = 0;  // 62 bits
};

Generator& generator() {
  static Generator g;
  return g;
}

std::string encode(std::string_view prefix, uint64_t hi, uint64_t lo) {
  // 128 bits -> 26 base32 characters; the first holds the top 3 bits (130 = 2 + 128).
  std::string out;
  out.reserve(prefix.size() + 27);
  out.append(prefix);
  out += '_';
  char buf[26];
  for (int i = 25; i >= 0; --i) {
    buf[i] = kAlphabet[lo & 31];
    lo = (lo >> 5) | ((hi & 31) << 59);
    hi >>= 5;
  }
  out.append(buf, 26);
  return out;
}

}  // namespace

std::string newRecordIdAt(std::string_view prefix, uint64_t ms) {
  Generator& g = generator();
  uint64_t a, b;
  {
    std::lock_guard lock(g.mutex);
    if (ms <= g.lastMillis) {
      // Same (or an earlier, clock went back) millisecond: keep the last time
      // and count up, so the order still follows creation.
      ms = g.lastMillis;
      if (++g.randB >> 62) {
        g.randB = 0;
        g.randA = (g.randA + 1) & 0xFFF;
        if (g.randA == 0) ++ms;  // 2^74 ids in one millisecond: borrow the next one
      }
    } else {
      uint64_t r[2];
      randombytes_buf(r, sizeof r);
      g.randA = r[0] & 0x7FF;                       // top bit clear: room to count up
      g.randB = r[1] & ((uint64_t(1) << 61) - 1);   // likewise
    }
    g.lastMillis = ms;
    a = g.randA;
    b = g.randB;
  }
  uint64_t hi = (ms << 16) | (uint64_t(0x7) << 12) | a;     // 48-bit time, version 7, rand_a
  uint64_t lo = (uint64_t(0x2) << 62) | b;                  // variant 10, rand_b
  return encode(prefix, hi, lo);
}

std::string newRecordId(std::string_view prefix) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  return newRecordIdAt(prefix, static_cast<uint64_t>(now));
}

bool isRecordId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 27 || !id.starts_with(prefix) || id[prefix.size()] != '_') return false;
  std::string_view s = id.substr(prefix.size() + 1);
  if (s[0] < '0' || s[0] > '7') return false;
  for (char c : s)
    if (std::string_view(kAlphabet).find(c) == std::string_view::npos) return false;
  return true;
}

std::string_view recordIdSuffix(std::string_view id) {
  size_t u = id.rfind('_');
  return u == std::string_view::npos ? std::string_view{} : id.substr(u + 1);
}

std::string slugify(std::string_view text) {
  std::string out;
  bool dash = false;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
    if (alnum) {
      if (dash && !out.empty()) out += '-';
      dash = false;
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      if (out.size() >= 80) break;
    } else {
      dash = true;
    }
  }
  if (out.size() > 80) out.resize(80);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string slugCandidate(std::string_view base, int n) {
  std::string b(base);
  if (n <= 1) {
    if (b == "events") return slugCandidate(base, 2);
    return b;
  }
  std::string suffix = "-" + std::to_string(n);
  if (b.size() + suffix.size() > 80) {
    b.resize(80 - suffix.size());
    while (!b.empty() && b.back() == '-') b.pop_back();
  }
  return b + suffix;
}

}  // namespace restd
