#include "http/message.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace restd::http {

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

bool acceptsGzip(std::string_view acceptEncoding) {
  double gzip = -1, star = -1;
  forEachWeighted(acceptEncoding, [&](std::string_view coding, double q) {
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip = q;
    else if (coding == "*") star = q;
  });
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
