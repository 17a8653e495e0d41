// Text helpers for protocol tokens and header values, shared by every layer
// (ASCII only: header names, media types, codings; never user text).
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace restd {

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);
// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim(std::string_view s);
// ASCII lower case.
std::string lower(std::string_view s);

// The weight of one element of a header list, from the parameters after its
// first ';' ("q=0.5; level=1"): 1 without a q parameter. A q that is not a
// qvalue (RFC 9110 §12.4.2: a number from 0 to 1, at most three decimals)
// is not understood and weighs 0, so it never selects anything.
double qValue(std::string_view params);

// Calls each(value, q) for every element of a comma-separated list with
// weights (Accept, Accept-Encoding): `value` trimmed and without its
// parameters, `q` from qValue(). Empty elements are skipped.
template <class Each>
void forEachWeighted(std::string_view list, Each&& each) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view value = trim(item.substr(0, semi));
    if (value.empty()) continue;
    each(value, semi == std::string_view::npos ? 1.0 : qValue(item.substr(semi + 1)));
  }
}

}  // namespace restd
