#include "common/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>

#include <sodium.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace restd {
namespace {

// Hashes object keys with SipHash under a random per-process key, so a
// client cannot choose keys that collide and turn the set quadratic again.
struct KeyHash {
  size_t operator()(std::string_view k) const {
    static const std::array<unsigned char, crypto_shorthash_KEYBYTES> secret = [] {
      std::array<unsigned char, crypto_shorthash_KEYBYTES> key;
      if (sodium_init() < 0) std::memset(key.data(), 0x5a, key.size());
      else randombytes_buf(key.data(), key.size());
      return key;
    }();
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, reinterpret_cast<const unsigned char*>(k.data()), k.size(), secret.data());
    size_t h;
    std::memcpy(&h, out, sizeof h);
    return h;
  }
};

// The keys of one open object. Duplicate detection must stay linear in the
// body (SPEC §7): small objects, nearly all of them, compare a short list;
// from kLinearKeys keys on a hash set takes over.
class ObjectKeys {
 public:
  // False when `k` was already there.
  bool insert(std::string_view k) {
    if (set_.empty()) {
      for (const auto& existing : list_)
        if (existing == k) return false;
      list_.emplace_back(k);
      if (list_.size() > kLinearKeys) {
        set_.reserve(list_.size() * 2);
        for (auto& key : list_) set_.insert(std::move(key));
        list_.clear();
      }
      return true;
    }
    return set_.emplace(k).second;
  }
  // Ready for the next object at this depth. The list keeps its capacity
  // (the next of a thousand records' objects allocates nothing); a hash set
  // is dropped, so that clearing never costs the buckets of an earlier
  // object with many keys once per later object.
  void clear() {
    list_.clear();
    if (!set_.empty()) std::unordered_set<std::string, KeyHash, std::equal_to<>>().swap(set_);
  }

 private:
  static constexpr size_t kLinearKeys = 16;
  std::vector<std::string> list_;
  std::unordered_set<std::string, KeyHash, std::equal_to<>> set_;  // holds the keys once there are many
};

// At most 64 bytes of a client's key in a message, cut at a character boundary.
std::string shortened(std::string_view k) {
  if (k.size() <= 64) return std::string(k);
  size_t cut = 64;
  while (cut > 0 && (static_cast<unsigned char>(k[cut]) & 0xC0) == 0x80) --cut;
  return std::string(k.substr(0, cut)) + "...";
}

// Forwards SAX events to the document while enforcing depth and unique keys.
template <typename Target>
class StrictHandler {
 public:
  explicit StrictHandler(Target& target) : target_(target) {}

  bool Null() { return target_.Null(); }
  bool Bool(bool b) { return target_.Bool(b); }
  bool Int(int i) { return target_.Int(i); }
  bool Uint(unsigned u) { return target_.Uint(u); }
  bool Int64(int64_t i) { return target_.Int64(i); }
  bool Uint64(uint64_t u) { return target_.Uint64(u); }
  bool Double(double d) { return target_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return target_.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return target_.String(s, n, copy); }
  bool StartObject() {
    if (!enter()) return false;
    if (openObjects_ == keys_.size()) keys_.emplace_back();
    keys_[openObjects_++].clear();
    return target_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    std::string_view k(s, n);
    if (!keys_[openObjects_ - 1].insert(k)) {
      problem = "The JSON object repeats the key \"" + std::string(shortened(k)) + "\".";
      return false;
    }
    return target_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    --openObjects_;
    --depth_;
    return target_.EndObject(n);
  }
  bool StartArray() {
    if (!enter()) return false;
    return target_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return target_.EndArray(n);
  }

  std::string problem;

 private:
  bool enter() {
    if (++depth_ > kMaxJsonDepth) {
      problem = "The JSON value nests deeper than " + std::to_string(kMaxJsonDepth) + " levels.";
      return false;
    }
    return true;
  }
  Target& target_;
  int depth_ = 0;
  // Keys seen, per open object: keys_[0, openObjects_) are open, the rest
  // wait to be reused.
  std::vector<ObjectKeys> keys_;
  size_t openObjects_ = 0;
};

}  // namespace

bool parseStrictJson(std::string_view text, rapidjson::Document& doc, std::string& why) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF) {
    why = "The body starts with a byte-order mark; send UTF-8 without one.";
    return false;
  }
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  rapidjson::ParseResult result;
  std::string problem;
  auto generator = [&](rapidjson::Document& target) {
    StrictHandler<rapidjson::Document> handler(target);
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    result = reader.Parse<kFlags>(in, handler);
    problem = std::move(handler.problem);
    return !result.IsError();
  };
  doc.Populate(generator);
  if (!result.IsError()) return true;
  if (!problem.empty()) why = problem;
  else
    why = std::string("The body is not valid JSON: ") + rapidjson::GetParseError_En(result.Code()) + " (at byte " +
          std::to_string(result.Offset()) + ")";
  doc.SetNull();
  return false;
}

std::string toJsonText(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

void parseStoredJson(std::string_view text, rapidjson::Value& out, rapidjson::MemoryPoolAllocator<>& a) {
  // The document's stack starts at 1 KiB and the reader's at 256 bytes, both
  // taken from this buffer; Clear() gives back anything a deeper text needed
  // beyond it, so the pool never grows from one call to the next.
  using StackPool = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
  thread_local char buffer[4096];
  thread_local StackPool stack(buffer, sizeof buffer);
  {
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, StackPool> doc(&a, 1024, &stack);
    doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    if (doc.HasParseError()) out.SetNull();
    else out.Swap(static_cast<rapidjson::Value&>(doc));  // hand the nodes over instead of copying
  }
  stack.Clear();
}

void addMemberCopy(rapidjson::Value& object, const rapidjson::Value::Member& m, rapidjson::MemoryPoolAllocator<>& a) {
  rapidjson::Value name(m.name, a);
  rapidjson::Value value;
  copyJson(m.value, value, a);
  object.AddMember(name, value, a);
}

void copyJson(const rapidjson::Value& from, rapidjson::Value& to, rapidjson::MemoryPoolAllocator<>& a) {
  if (from.IsObject()) {
    to.SetObject();
    for (const auto& m : from.GetObject()) addMemberCopy(to, m, a);
  } else if (from.IsArray()) {
    to.SetArray();
    to.Reserve(from.Size(), a);
    for (const auto& e : from.GetArray()) {
      rapidjson::Value value;
      copyJson(e, value, a);
      to.PushBack(value, a);
    }
  } else {
    rapidjson::Value scalar(from, a);  // a string, number, bool or null: no heap stack
    to.Swap(scalar);
  }
}

// Sixteen bytes at a time with SSE2 (every x86-64 has it), else eight with
// the usual borrow tricks on a 64-bit word: a byte below 0x20, or equal to
// '"' or '\\', is looked for in a whole block at once; a string's last block
// overlaps the one before it. Shorter than a word (most keys), it is looked
// at byte by byte: copying it into a padded word took a memcpy call of
// variable size, several times the cost. Nothing is read past the end.
bool needsJsonEscape(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1f);
    auto special = [&](const char* at) {
      __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                 _mm_cmpeq_epi8(_mm_max_epu8(x, control), control));  // unsigned x <= 0x1f
      return _mm_movemask_epi8(hit) != 0;
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      if (special(p + i)) return true;
    return i != n && special(p + n - 16);
  }
#endif
  if (n < 8) {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      auto c = static_cast<unsigned char>(p[i]);
      any |= c < 0x20 || c == '"' || c == '\\';
    }
    return any;
  }
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto special = [](uint64_t x) {
    auto hasZero = [](uint64_t y) { return (y - kOnes) & ~y & kHighs; };
    return (((x - kOnes * 0x20) & ~x & kHighs) | hasZero(x ^ (kOnes * '"')) | hasZero(x ^ (kOnes * '\\'))) != 0;
  };
  uint64_t x;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::memcpy(&x, p + i, 8);
    if (special(x)) return true;
  }
  if (i == n) return false;
  std::memcpy(&x, p + n - 8, 8);
  return special(x);
}

}  // namespace restd
