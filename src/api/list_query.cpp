#include "api/list_query.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sodium.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/json.h"
#include "common/time.h"
#include "config/names.h"

namespace restd::api {
namespace {

constexpr int64_t kMaxPage = 1'000'000'000'000;

ErrorObject invalid(const std::string& param, const std::string& msg) {
  return ErrorObject(Reason::invalid_parameter, msg).withDescription("Check the query parameter \"" + param + "\".");
}
ErrorObject unknown(const std::string& param, const std::string& msg) {
  return ErrorObject(Reason::unknown_parameter, msg).withDescription("Check the query parameter \"" + param + "\".");
}

// What a query may name: a declared field or a system field.
enum class Kind { text, integer, number, boolean, datetime, unsortable };

std::optional<Kind> kindOf(const CollectionRules& rules, std::string_view name) {
  if (name == "id" || name == "owner") return Kind::text;
  if (name == "slug") return rules.spec->slugFrom ? std::optional(Kind::text) : std::nullopt;
  if (name == "createdAt" || name == "updatedAt") return Kind::datetime;
  if (name == "version") return Kind::integer;
  const FieldRules* fr = rules.field(name);
  if (!fr) return std::nullopt;
  switch (fr->spec->type) {
    case FieldType::string: return Kind::text;
    case FieldType::integer: return Kind::integer;
    case FieldType::number: return Kind::number;
    case FieldType::boolean: return Kind::boolean;
    case FieldType::datetime: return Kind::datetime;
    default: return Kind::unsortable;
  }
}

std::optional<int64_t> parseInt(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::string t(s);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno || *end || end == t.c_str() || !(std::isdigit(static_cast<unsigned char>(t.back())))) return std::nullopt;
  return v;
}

// A filter's text as the value the store compares; false when it does not
// fit the field. (An out-parameter: GCC 12 misreads optional<variant<string>>
// returns as maybe-uninitialized under the sanitizers.)
bool convert(Kind k, std::string_view v, store::SqlValue& out) {
  switch (k) {
    case Kind::text: out = std::string(v); return true;
    case Kind::integer: {
      auto i = parseInt(v);
      if (i) out = *i;
      return i.has_value();
    }
    case Kind::number: {
      if (auto i = parseInt(v)) {
        out = *i;
        return true;
      }
      std::string t(v);
      char* end = nullptr;
      double d = std::strtod(t.c_str(), &end);
      if (t.empty() || *end || !std::isfinite(d)) return false;
      out = d;
      return true;
    }
    case Kind::boolean:
      if (v != "true" && v != "false") return false;
      out = int64_t(v == "true" ? 1 : 0);
      return true;
    case Kind::datetime:
      if (auto ms = parseRfc3339Millis(v)) {
        out = *ms;
        return true;
      }
      return false;
    case Kind::unsortable: return false;
  }
  return false;
}

std::optional<store::FilterOp> opFromName(std::string_view s) {
  using O = store::FilterOp;
  if (s == "eq") return O::eq;
  if (s == "ne") return O::ne;
  if (s == "gt") return O::gt;
  if (s == "gte") return O::gte;
  if (s == "lt") return O::lt;
  if (s == "lte") return O::lte;
  if (s == "in") return O::in;
  if (s == "like") return O::like;
  return std::nullopt;
}

std::vector<std::string_view> splitCommas(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    size_t c = s.find(',');
    out.push_back(s.substr(0, c));
    if (c == std::string_view::npos) break;
    s = s.substr(c + 1);
  }
  return out;
}

// The value a sort key has in a record, as the store compares it.
store::SqlValue sortValue(const CollectionRules& rules, const store::Record& r, const std::string& column) {
  if (column == "id") return r.id;
  if (column == "slug") return r.slug ? store::SqlValue(*r.slug) : store::SqlValue(std::monostate{});
  if (column == "owner") return r.owner;
  if (column == "createdAt") return r.createdAt;
  if (column == "updatedAt") return r.updatedAt;
  if (column == "version") return r.version;
  auto it = r.values.FindMember(column.c_str());
  if (it == r.values.MemberEnd() || it->value.IsNull()) return std::monostate{};
  const auto& v = it->value;
  switch (rules.field(column)->spec->type) {
    case FieldType::string: return std::string(v.GetString(), v.GetStringLength());
    case FieldType::integer: return v.GetInt64();
    case FieldType::number: return v.IsInt64() ? store::SqlValue(v.GetInt64()) : store::SqlValue(v.GetDouble());
    case FieldType::boolean: return int64_t(v.GetBool() ? 1 : 0);
    case FieldType::datetime: {
      auto ms = parseRfc3339Millis(std::string_view(v.GetString(), v.GetStringLength()));
      return ms ? store::SqlValue(*ms) : store::SqlValue(std::monostate{});
    }
    default: return std::monostate{};
  }
}

std::optional<std::vector<store::SqlValue>> decodeCursor(std::string_view token, const std::string& sortText,
                                                         size_t keys) {
  std::string bin(token.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), token.data(), token.size(), nullptr,
                        &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return std::nullopt;
  bin.resize(len);
  rapidjson::Document d;
  std::string why;
  if (!parseStrictJson(bin, d, why) || !d.IsArray() || d.Size() != keys + 2 || !d[0].IsString() ||
      sortText != d[0].GetString())
    return std::nullopt;
  std::vector<store::SqlValue> out;
  for (rapidjson::SizeType i = 1; i < d.Size(); ++i) {
    const auto& v = d[i];
    if (v.IsNull()) out.emplace_back(std::monostate{});
    else if (v.IsInt64()) out.emplace_back(v.GetInt64());
    else if (v.IsDouble()) out.emplace_back(v.GetDouble());
    else if (v.IsString()) out.emplace_back(std::string(v.GetString(), v.GetStringLength()));
    else return std::nullopt;
  }
  if (!std::holds_alternative<std::string>(out.back())) return std::nullopt;  // the id
  return out;
}

}  // namespace

// Long by design: one pass over the parameters, one branch per parameter
// of SPEC §4 (conversions and cursors are the helpers above).
std::optional<ErrorObject> parseListRequest(const CollectionRules& rules, const QueryParams& params,
                                            ListRequest& out) {
  const std::string* cursor = nullptr;
  bool pageGiven = false;
  for (const auto& [key, value] : params) {
    if (key == "page" || key == "per_page") {
      // A page beyond kMaxPage would overflow the offset ((page - 1) * per_page)
      // and the Link header's next page (found by fuzz/list_query).
      auto n = parseInt(value);
      if (!n || *n < 1 || (key == "per_page" && *n > 100) || (key == "page" && *n > kMaxPage))
        return invalid(key, key == "page" ? "The parameter \"page\" must be a whole number from 1 to 1000000000000."
                                          : "The parameter \"per_page\" must be a whole number from 1 to 100.");
      (key == "page" ? out.page : out.perPage) = *n;
      if (key == "page") pageGiven = true;
    } else if (key == "count") {
      if (value != "true" && value != "false") return invalid(key, "The parameter \"count\" must be true or false.");
      out.query.count = value == "true";
    } else if (key == "cursor") {
      cursor = &value;
    } else if (key == "sort") {
      out.sortText = value;
      if (value.empty()) continue;
      for (auto part : splitCommas(value)) {
        bool desc = !part.empty() && part[0] == '-';
        std::string name(desc ? part.substr(1) : part);
        auto kind = kindOf(rules, name);
        if (!kind) return unknown(key, "Cannot sort by \"" + name + "\": there is no such field.");
        if (*kind == Kind::unsortable)
          return invalid(key, "Cannot sort by \"" + name + "\": object and array fields are not sortable.");
        out.query.sort.push_back(store::SortKey{name, desc});
      }
    } else if (key == "fields") {
      if (value.empty()) continue;
      for (auto part : splitCommas(value)) {
        std::string name(part);
        if (!kindOf(rules, name)) return unknown(key, "The field \"" + name + "\" in \"fields\" does not exist.");
        out.fields.push_back(name);
      }
    } else if (isOneOf(kListParams, key)) {
      continue;  // envelope, ids, atomic, access_token: handled elsewhere
    } else {
      // A filter: FIELD=value or FIELD[op]=value.
      std::string name = key;
      store::FilterOp op = store::FilterOp::eq;
      size_t bracket = key.find('[');
      if (bracket != std::string::npos) {
        if (key.back() != ']') return unknown(key, "The filter \"" + key + "\" is malformed; use FIELD[op]=value.");
        name = key.substr(0, bracket);
        std::string opName = key.substr(bracket + 1, key.size() - bracket - 2);
        auto o = opFromName(opName);
        if (!o) return unknown(key, "Unknown filter operator \"" + opName + "\"; use eq, ne, gt, gte, lt, lte, in or like.");
        op = *o;
      }
      auto kind = kindOf(rules, name);
      if (!kind) return unknown(key, "Cannot filter by \"" + name + "\": there is no such field.");
      if (*kind == Kind::unsortable)
        return invalid(key, "Cannot filter by \"" + name + "\": object and array fields cannot be filtered.");
      store::Filter f;
      f.column = name;
      f.op = op;
      if (op == store::FilterOp::like) {
        if (*kind != Kind::text) return invalid(key, "The like operator works only on text fields.");
        f.values.push_back(store::SqlValue(std::string(value)));  // the store turns the pattern into its own
      } else if (op == store::FilterOp::in) {
        for (auto part : splitCommas(value)) {
          store::SqlValue v;
          if (!convert(*kind, part, v))
            return invalid(key, "The value \"" + std::string(part) + "\" does not fit the field \"" + name + "\".");
          f.values.push_back(std::move(v));
        }
      } else {
        store::SqlValue v;
        if (!convert(*kind, value, v)) return invalid(key, "The value \"" + value + "\" does not fit the field \"" + name + "\".");
        f.values.push_back(std::move(v));
      }
      out.query.filters.push_back(std::move(f));
    }
  }
  if (cursor) {
    if (pageGiven) return invalid("cursor", "The parameters \"cursor\" and \"page\" cannot be combined.");
    out.cursorMode = true;
    if (!cursor->empty()) {
      auto after = decodeCursor(*cursor, out.sortText, out.query.sort.size());
      if (!after) return invalid("cursor", "The cursor is not valid for this list (or its sort changed).");
      out.query.after = std::move(*after);
    }
    out.query.count = false;
  }
  out.query.limit = out.perPage;
  out.query.offset = out.cursorMode ? 0 : (out.page - 1) * out.perPage;
  return std::nullopt;
}

std::string encodeCursor(const CollectionRules& rules, const ListRequest& request, const store::Record& last) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  w.String(request.sortText.c_str(), static_cast<rapidjson::SizeType>(request.sortText.size()));
  auto write = [&](const store::SqlValue& v) {
    if (std::holds_alternative<std::monostate>(v)) w.Null();
    else if (auto* i = std::get_if<int64_t>(&v)) w.Int64(*i);
    else if (auto* d = std::get_if<double>(&v)) w.Double(*d);
    else {
      const auto& s = std::get<std::string>(v);
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    }
  };
  for (const auto& k : request.query.sort) write(sortValue(rules, last, k.column));
  write(last.id);
  w.EndArray();
  std::string out(sodium_base64_ENCODED_LEN(sb.GetSize(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(sb.GetString()), sb.GetSize(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

namespace {

// `s` percent-encoded for a query: RFC 3986's unreserved characters, ',' and
// '*' stay. RFC 3986 allows `[` and `]` only around an IPv6 host: in a query
// they are percent-encoded like any other reserved character (SPEC §7).
void appendEncoded(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',' || c == '*') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

// buildQuery() into `out`, without a string for each part.
void appendQuery(std::string& out, const QueryParams& params, std::string_view name,
                 std::optional<std::string_view> value) {
  bool first = true, placed = false;
  auto pair = [&](std::string_view k, std::string_view v, bool encodeKey) {
    if (!first) out += '&';
    first = false;
    if (encodeKey) appendEncoded(out, k);
    else out += k;
    out += '=';
    appendEncoded(out, v);
  };
  for (const auto& [k, v] : params) {
    if (k == "access_token") continue;  // never repeat a credential into a link
    if (k == name) {
      if (placed || !value) continue;
      placed = true;
      pair(k, *value, true);
      continue;
    }
    pair(k, v, true);
  }
  if (!placed && value) pair(name, *value, false);
}

}  // namespace

std::string buildQuery(const QueryParams& params, std::string_view name, const std::optional<std::string>& value) {
  std::string q;
  appendQuery(q, params, name, value ? std::optional<std::string_view>(*value) : std::nullopt);
  return q;
}

std::string linkHeader(std::string_view path, const QueryParams& params, const ListRequest& request,
                       std::optional<int64_t> pagesCount, bool hasMore, const std::optional<std::string>& nextCursor) {
  std::string out;
  out.reserve(4 * (path.size() + 64));
  auto add = [&](std::string_view name, std::string_view value, std::string_view rel) {
    if (!out.empty()) out += ", ";
    out += '<';
    out += path;
    out += '?';
    size_t query = out.size();
    appendQuery(out, params, name, value);
    if (out.size() == query) out.pop_back();  // no query: no '?'
    out += ">; rel=\"";
    out += rel;
    out += '"';
  };
  if (request.cursorMode) {
    if (nextCursor) add("cursor", *nextCursor, "next");
    return out;
  }
  auto page = [&](int64_t n, std::string_view rel) {
    char digits[24];
    add("page", std::string_view(digits, std::to_chars(digits, digits + sizeof digits, n).ptr - digits), rel);
  };
  page(1, "first");
  if (request.page > 1) page(request.page - 1, "prev");
  if (hasMore) page(request.page + 1, "next");
  if (pagesCount) page(std::max<int64_t>(1, *pagesCount), "last");
  return out;
}

}  // namespace restd::api
