#include "common/progress.h"

#include <cstdio>
#include <string_view>

namespace restd {

namespace {

std::string withCommas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string duration(double seconds) {
  char buf[32];
  if (seconds < 60) std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  else if (seconds < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(seconds) / 3600, int(seconds) / 60 % 60);
  return buf;
}

}  // namespace

std::string humanBytes(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string what, bool toTerminal)
    : what_(std::move(what)), toTerminal_(toTerminal), start_(std::chrono::steady_clock::now()) {}

double ProgressBar::elapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t done, int64_t total, int64_t bytes, const char* unit, int64_t bytesTotal) {
  if (!toTerminal_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - lastDraw_ < std::chrono::milliseconds(100)) return;
  lastDraw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double fraction = total > 0 ? double(done) / double(total) : bytesTotal > 0 ? double(bytes) / double(bytesTotal) : -1;
  std::string line = "\r" + what_ + " ";
  if (fraction >= 0) {
    if (fraction > 1) fraction = 1;
    constexpr int kWidth = 24;
    int filled = static_cast<int>(fraction * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", fraction * 100);
    line += pct;
  }
  line += withCommas(done);
  if (total > 0) line += "/" + withCommas(total);
  line += std::string(" ") + unit;
  if (elapsed > 0.05) line += ", " + withCommas(static_cast<int64_t>(double(done) / elapsed)) + "/s";
  line += ", " + humanBytes(bytes);
  if (fraction > 0.001 && fraction < 1 && elapsed > 0.5) line += ", ETA " + duration(elapsed * (1 - fraction) / fraction);
  line += "\x1b[K";  // erase what a longer previous line left
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  drawn_ = false;
}

void ProgressBar::finish(const std::string& summary, int64_t done, const char* unit) {
  clear();
  double elapsed = elapsedSeconds();
  char rate[64] = "";
  if (elapsed > 0.0005) {
    auto perSecond = static_cast<int64_t>(double(done) / elapsed);
    if (std::string_view(unit) == "bytes") std::snprintf(rate, sizeof rate, ", %s/s", humanBytes(perSecond).c_str());
    else std::snprintf(rate, sizeof rate, ", %s %s/s", withCommas(perSecond).c_str(), unit);
  }
  std::fprintf(stderr, "%s in %.1f s%s\n", summary.c_str(), elapsed, rate);
}

}  // namespace restd
