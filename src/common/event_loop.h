// What a storage engine may ask of the server's event loop: to be told when
// a socket of its own can be read or written, so that it talks to its
// database from the I/O threads without ever blocking one (PostgreSQL's
// pipelined reads, store/postgres/pg_pipeline.h). Implemented by
// http::Server over Asio; common/ knows no Asio.
#pragma once

#include <functional>
#include <memory>

namespace restd {

// One descriptor watched by the loop. Every function given to one FdWatch
// runs in one sequence: never two at once, each on one of the I/O threads.
// The watch does not own the descriptor and never closes it; destroy the
// watch before closing the descriptor, and only from within its sequence
// or after the loop has stopped. Functions still waiting then are dropped
// without being called.
class FdWatch {
 public:
  virtual ~FdWatch() = default;
  // Runs `fn` in this watch's sequence soon. Any thread may call it.
  virtual void post(std::function<void()> fn) = 0;
  // Run `fn` once when the descriptor is readable (writable), or in error.
  // At most one of each may wait at a time. Call only from the sequence.
  virtual void whenReadable(std::function<void()> fn) = 0;
  virtual void whenWritable(std::function<void()> fn) = 0;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  virtual std::unique_ptr<FdWatch> watch(int fd) = 0;
  // How many I/O threads run the loop.
  virtual unsigned threads() const = 0;
};

}  // namespace restd
