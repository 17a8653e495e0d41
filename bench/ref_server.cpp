// Reference servers for `make bench` (not part of restd): the ceilings restd
// is measured against, on the same machine, in the same run.
//   ref_server static PORT FILE   R1: returns FILE's bytes for every request (HTTP ceiling)
//   ref_server sqlite PORT DB     R2: GET /api/v2/things/{id} -> one prepared SQLite point
//                                 lookup, rendered with RapidJSON (HTTP + one SQLite read)
//   ref_server postgres PORT URL  R6: the same lookup through libpq: one connection, one
//                                 prepared statement, a blocking call per request
// One thread, keep-alive, Boost.Beast: the same HTTP library restd uses.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string gStatic;
sqlite3* gDb = nullptr;
sqlite3_stmt* gLookup = nullptr;
int gColumns = 0;
PGconn* gPg = nullptr;

// {"data":{...},"meta":{"requestId":...}}: the caller writes the record's members.
struct Envelope {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w{sb};
  Envelope() {
    w.StartObject();
    w.Key("data");
    w.StartObject();
  }
  void finish(std::string& out) {
    w.EndObject();
    w.Key("meta");
    w.StartObject();
    w.Key("requestId");
    w.String("00000000000000000000");
    w.EndObject();
    w.EndObject();
    out.assign(sb.GetString(), sb.GetSize());
  }
};

void renderPg(std::string_view id, http::response<http::string_body>& res) {
  std::string key(id);
  const char* values[] = {key.c_str()};
  PGresult* r = PQexecPrepared(gPg, "lookup", 1, values, nullptr, nullptr, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0) {
    PQclear(r);
    res.result(http::status::not_found);
    res.body() = R"({"error":{"code":404}})";
    return;
  }
  Envelope e;
  auto& w = e.w;
  for (int c = 0; c < PQnfields(r); ++c) {
    w.Key(PQfname(r, c));
    if (PQgetisnull(r, 0, c)) w.Null();
    else w.String(PQgetvalue(r, 0, c), static_cast<rapidjson::SizeType>(PQgetlength(r, 0, c)));
  }
  PQclear(r);
  e.finish(res.body());
}

void render(std::string_view id, http::response<http::string_body>& res) {
  sqlite3_reset(gLookup);
  sqlite3_bind_text(gLookup, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  if (sqlite3_step(gLookup) != SQLITE_ROW) {
    res.result(http::status::not_found);
    res.body() = R"({"error":{"code":404}})";
    return;
  }
  Envelope e;
  auto& w = e.w;
  for (int c = 0; c < gColumns; ++c) {
    w.Key(sqlite3_column_name(gLookup, c));
    switch (sqlite3_column_type(gLookup, c)) {
      case SQLITE_INTEGER: w.Int64(sqlite3_column_int64(gLookup, c)); break;
      case SQLITE_FLOAT: w.Double(sqlite3_column_double(gLookup, c)); break;
      case SQLITE_NULL: w.Null(); break;
      default:
        w.String(reinterpret_cast<const char*>(sqlite3_column_text(gLookup, c)),
                 static_cast<rapidjson::SizeType>(sqlite3_column_bytes(gLookup, c)));
    }
  }
  e.finish(res.body());
}

asio::awaitable<void> session(tcp::socket socket) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(socket, buffer, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "ref");
    res.set(http::field::content_type, "application/json; charset=utf-8");
    if (gDb || gPg) {
      std::string_view target = req.target();
      if (gDb) render(target.substr(target.rfind('/') + 1), res);
      else renderPg(target.substr(target.rfind('/') + 1), res);
    } else {
      res.body() = gStatic;
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(socket, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) co_return;
  }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: ref_server static PORT FILE | sqlite PORT DB | postgres PORT URL\n");
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "static") {
    std::ifstream in(argv[3], std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    gStatic = ss.str();
  } else if (mode == "postgres") {
    gPg = PQconnectdb(argv[3]);
    if (PQstatus(gPg) != CONNECTION_OK) return 1;
    PGresult* r = PQprepare(gPg, "lookup", "SELECT * FROM \"things\" WHERE \"id\" = $1", 1, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return 1;
    PQclear(r);
  } else {
    if (sqlite3_open_v2(argv[3], &gDb, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return 1;
    if (sqlite3_prepare_v2(gDb, "SELECT * FROM \"things\" WHERE \"id\" = ?", -1, &gLookup, nullptr) != SQLITE_OK) return 1;
    gColumns = sqlite3_column_count(gLookup);
  }
  asio::io_context ioc(1);
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(argv[2]))});
  asio::co_spawn(ioc, listen(acceptor), asio::detached);
  std::printf("ready\n");
  std::fflush(stdout);
  ioc.run();
}
