#include "http/message.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace restd::http {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

bool Request::hasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

// q-value of one list element "token;q=0.5" (1 when absent, 0 when unparsable as > 0).
double qValue(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string v(trim(p.substr(2)));
      char* end = nullptr;
      double q = std::strtod(v.c_str(), &end);
      if (end == v.c_str()) return 0;
      return q;
    }
  }
  return 1;
}
}  // namespace

bool entityTagListMatches(std::string_view header, std::string_view etag, bool weak) {
  bool etagWeak = etag.starts_with("W/");
  if (etagWeak) etag.remove_prefix(2);
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (item == "*") return true;
    bool itemWeak = item.starts_with("W/");
    if (itemWeak) item.remove_prefix(2);
    if ((itemWeak || etagWeak) && !weak) continue;
    if (item == etag) return true;
  }
  return false;
}

bool acceptsGzip(std::string_view ae) {
  double gzip = -1, star = -1;
  while (!ae.empty()) {
    size_t comma = ae.find(',');
    std::string_view item = ae.substr(0, comma);
    ae = comma == std::string_view::npos ? std::string_view{} : ae.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = trim(item.substr(0, semi));
    double q = semi == std::string_view::npos ? 1 : qValue(item.substr(semi + 1));
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip = q;
    else if (coding == "*") star = q;
  }
  if (gzip >= 0) return gzip > 0;
  return star > 0;
}

struct GzipEncoder::State {
  z_stream zs{};
  bool ready = false;
};

GzipEncoder::GzipEncoder(size_t inputSize) : state_(new State) {
  // 15 window bits + 16 = gzip wrapper; level 6 is zlib's balance of speed and size.
  int level = inputSize >= kFastLevelFrom ? 1 : 6;
  state_->ready = deflateInit2(&state_->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipEncoder::~GzipEncoder() {
  if (state_->ready) deflateEnd(&state_->zs);
  delete state_;
}

bool GzipEncoder::step(std::string_view in, std::string& out, size_t slice, bool& failed) {
  failed = false;
  if (!state_->ready) {
    failed = true;
    return true;
  }
  z_stream& zs = state_->zs;
  size_t take = std::min(slice, in.size() - consumed_);
  bool last = consumed_ + take == in.size();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed_));
  zs.avail_in = static_cast<uInt>(take);
  int flush = last ? Z_FINISH : Z_NO_FLUSH;
  for (;;) {
    size_t room = deflateBound(&zs, static_cast<uLong>(zs.avail_in)) + 64;
    size_t used = out.size();
    out.resize(used + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(room);
    int rc = deflate(&zs, flush);
    out.resize(used + room - zs.avail_out);
    if (rc == Z_STREAM_END) {
      consumed_ = in.size();
      return true;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      failed = true;
      return true;
    }
    if (zs.avail_in == 0 && (!last || zs.avail_out != 0)) break;  // slice consumed (and, when last, not yet ended)
  }
  consumed_ += take;
  return false;
}

bool gzipCompress(std::string_view in, std::string& out) {
  out.clear();
  GzipEncoder encoder(in.size());
  bool failed = false;
  while (!encoder.step(in, out, in.size() + 1, failed)) {
  }
  return !failed;
}

std::string redactAccessToken(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (true) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    if (part.starts_with("access_token=") || part == "access_token") out += "access_token=REDACTED";
    else out += part;
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

}  // namespace restd::http
