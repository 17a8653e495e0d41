#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/pattern.h"

#include <pcre2.h>

namespace restd {

struct Pattern::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Code() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

std::optional<Pattern> Pattern::compile(std::string_view source, std::string& error) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
  if (!code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(errorCode, buffer, sizeof buffer);
    error = std::string(reinterpret_cast<const char*>(buffer)) + " at offset " + std::to_string(errorOffset);
    return std::nullopt;
  }
  auto c = std::make_shared<Code>();
  c->code = code;
  c->context = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(c->context, 1'000'000);
  pcre2_set_depth_limit(c->context, 10'000);
  Pattern p;
  p.code_ = std::move(c);
  p.source_ = std::string(source);
  return p;
}

bool Pattern::matches(std::string_view text) const {
  // One match-data block per thread and pattern size is plenty: we only ask
  // yes/no. It also holds the frames PCRE2 allocates while matching, and
  // goes with its thread (a writer thread ends with its store).
  struct Free {
    void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
  };
  thread_local std::unique_ptr<pcre2_match_data, Free> data(pcre2_match_data_create(16, nullptr));
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, data.get(),
                       code_->context);
  return rc >= 0;
}

}  // namespace restd
