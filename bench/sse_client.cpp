// make bench's change-feed load: N subscribers on GET /{collection}/events
// and one writer POSTing records at a steady rate; prints, as JSON, the
// delivery latency to each subscriber receiving its event (p50, p99, max),
// and how many deliveries were seen. The commit lies between the POST being
// sent and its reply arriving, so latency from the send (the *_from_send
// figures) bounds commit-to-receipt from above, and from the reply (an
// event may arrive before the reply: counted as 0) from below.
//
//   sse_client PORT TOKEN SUBSCRIBERS WRITES_PER_SECOND SECONDS [HOLD_SECONDS]
//
// With HOLD_SECONDS the subscribers connect and stay idle that long before
// any write (for an RSS reading of idle streams), printing "connected" once
// all are up. Plain sockets and poll(): the client must cost far less than
// the server it measures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, 0);
    if (n <= 0) {
      std::perror("send");
      std::exit(1);
    }
    off += static_cast<size_t>(n);
  }
}

// The record id in a JSON text: the value of the first "id" member.
std::string recordId(std::string_view text) {
  size_t p = text.find("\"id\":\"");
  if (p == std::string_view::npos) return {};
  p += 6;
  size_t q = text.find('"', p);
  return std::string(text.substr(p, q - p));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: sse_client PORT TOKEN SUBSCRIBERS WRITES_PER_SECOND SECONDS [HOLD_SECONDS]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  std::string token = argv[2];
  int subscribers = std::atoi(argv[3]);
  double rate = std::atof(argv[4]);
  double seconds = std::atof(argv[5]);
  double hold = argc > 6 ? std::atof(argv[6]) : 0;

  std::vector<pollfd> fds;
  for (int i = 0; i < subscribers; ++i) {
    int fd = connectTo(port);
    sendAll(fd, "GET /api/v2/things/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
                "Authorization: Bearer " + token + "\r\n\r\n");
    fds.push_back({fd, POLLIN, 0});
  }
  std::vector<std::string> buffers(fds.size());
  std::vector<bool> answered(fds.size(), false);
  std::mutex mutex;
  // record id -> when its POST was sent and when its reply arrived
  std::unordered_map<std::string, std::pair<Clock::time_point, Clock::time_point>> committed;
  std::vector<std::pair<std::string, Clock::time_point>> received;
  received.reserve(static_cast<size_t>(rate * seconds * subscribers * 1.1) + 16);
  std::atomic<bool> writing{true};
  std::atomic<int> headers{0};

  std::thread reader([&] {
    std::vector<char> chunk(1 << 16);
    auto quietSince = Clock::now();
    for (;;) {
      int n = ::poll(fds.data(), fds.size(), 100);
      auto now = Clock::now();
      if (n <= 0) {
        if (!writing.load() && now - quietSince > std::chrono::seconds(1)) break;
        continue;
      }
      quietSince = now;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        ssize_t got = ::recv(fds[i].fd, chunk.data(), chunk.size(), 0);
        if (got <= 0) {
          fds[i].events = 0;
          continue;
        }
        std::string& b = buffers[i];
        if (!answered[i]) {
          answered[i] = true;
          if (got >= 12 && std::string_view(chunk.data(), 12) == "HTTP/1.1 200") headers++;
        }
        b.append(chunk.data(), static_cast<size_t>(got));
        // Every complete "data:" line is one delivery (chunk framing lines are skipped).
        size_t start = 0;
        for (;;) {
          size_t d = b.find("data: ", start);
          if (d == std::string::npos) break;
          size_t nl = b.find('\n', d);
          if (nl == std::string::npos) break;
          received.emplace_back(recordId(std::string_view(b).substr(d, nl - d)), now);
          start = nl + 1;
        }
        b.erase(0, start);
        if (b.size() > 4096 && b.find("data: ") == std::string::npos) b.erase(0, b.size() - 64);
      }
    }
  });

  auto connectedBy = Clock::now() + std::chrono::seconds(10);
  while (headers.load() < subscribers && Clock::now() < connectedBy) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (hold > 0) {
    std::printf("connected %d\n", headers.load());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(hold));
  }

  // The writer: one keep-alive connection, one durable POST at a time, paced.
  int w = connectTo(port);
  std::string reply;
  char buf[65536];
  auto begin = Clock::now();
  long total = static_cast<long>(rate * seconds);
  for (long k = 0; k < total; ++k) {
    auto due = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(k / rate));
    std::this_thread::sleep_until(due);
    std::string body = "{\"name\":\"event bench " + std::to_string(k) + "\"}";
    auto sentAt = Clock::now();
    sendAll(w, "POST /api/v2/things HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer " +
                   token + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    reply.clear();
    for (;;) {  // the whole reply: headers, then Content-Length bytes
      ssize_t n = ::recv(w, buf, sizeof buf, 0);
      if (n <= 0) return 1;
      reply.append(buf, static_cast<size_t>(n));
      size_t h = reply.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      size_t cl = reply.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::strtoul(reply.c_str() + cl + 16, nullptr, 10);
      if (reply.size() >= h + 4 + len) break;
    }
    auto at = Clock::now();
    std::lock_guard lock(mutex);
    committed[recordId(reply.substr(reply.find("\r\n\r\n")))] = {sentAt, at};
  }
  writing = false;
  reader.join();

  std::vector<double> ms, fromSend;
  long unmatched = 0;
  for (auto& [id, at] : received) {
    auto it = committed.find(id);
    if (it == committed.end()) {
      ++unmatched;
      continue;
    }
    ms.push_back(std::max(0.0, std::chrono::duration<double, std::milli>(at - it->second.second).count()));
    fromSend.push_back(std::chrono::duration<double, std::milli>(at - it->second.first).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(fromSend.begin(), fromSend.end());
  auto pctOf = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return pctOf(ms, p); };
  std::printf("{\"subscribers\": %d, \"connected\": %d, \"writes\": %ld, \"deliveries\": %zu, \"expected\": %ld, "
              "\"unmatched\": %ld, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
              "\"p50_from_send_ms\": %.3f, \"p99_from_send_ms\": %.3f, \"max_from_send_ms\": %.3f}\n",
              subscribers, headers.load(), total, ms.size(), total * subscribers, unmatched, pct(0.5), pct(0.99),
              ms.empty() ? 0.0 : ms.back(), pctOf(fromSend, 0.5), pctOf(fromSend, 0.99),
              fromSend.empty() ? 0.0 : fromSend.back());
  return 0;
}
