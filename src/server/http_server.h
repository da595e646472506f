// HttpServer: HTTP/1.1 on Boost.Beast with a pool of async I/O threads.
//
// Each connection is a Session on its own strand: read headers (header timeout) → read body (body
// timeout, size limit → 413) → route to a handler with an Exchange → while the handler works, watch the
// socket so a client that goes away is noticed at once (the Exchange's disconnect callback aborts
// its engine request) → write the response, whole or as an SSE stream of chunks → keep-alive or close.
// Exchange methods may be called from any thread; they post onto the session's strand.
#pragma once

#include <atomic>
#include <utility>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/status.h"

namespace strata {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;
  int io_threads = 4;
  size_t body_limit = 32u << 20;  // bytes
  std::chrono::seconds header_timeout{30};
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds idle_timeout{120};  // keep-alive between requests
};

class Session;

// One request/response exchange as a handler sees it.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  explicit Exchange(std::shared_ptr<Session> session, HttpRequest req);
  const HttpRequest& request() const { return request_; }
  // Extra response headers (CORS, X-Request-Id), set before responding.
  void add_header(std::string name, std::string value) { headers_.emplace_back(std::move(name), std::move(value)); }
  // A complete response (only once).
  void respond(unsigned status, std::string body, std::string content_type = "application/json");
  // SSE: headers now (200, text/event-stream, chunked), then events, then the end.
  void start_stream();
  void send_event(const std::string& data);  // sends "data: <data>\n\n"
  void end_stream();
  // Called once if the client disconnects before the exchange completes (from an I/O thread).
  void on_disconnect(std::function<void()> fn);
  // Runs fn on this exchange's connection strand (serialised with its writes).
  void post(std::function<void()> fn);
  bool disconnected() const { return disconnected_.load(); }

 private:
  friend class Session;
  void notify_disconnect();
  std::shared_ptr<Session> session_;
  HttpRequest request_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::atomic<bool> disconnected_{false};
  std::mutex mu_;
  std::function<void()> on_disconnect_;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  // Exact-path routes; `method` is "GET", "POST", ... A path with no route → 404; wrong method → 405.
  void route(const std::string& method, const std::string& path, Handler handler);
  // Called before routing (auth, content type); returns true when it already responded.
  void set_filter(std::function<bool(const std::shared_ptr<Exchange>&)> filter) { filter_ = std::move(filter); }
  Status start();
  uint16_t port() const { return bound_port_; }
  void stop_accepting();
  // Stops the I/O threads (open connections are closed).
  void stop();
  int open_connections() const { return open_connections_.load(); }

 private:
  friend class Session;
  void accept();
  void dispatch(const std::shared_ptr<Exchange>& ex);

  HttpServerOptions options_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path → method → handler
  std::function<bool(const std::shared_ptr<Exchange>&)> filter_;
  uint16_t bound_port_ = 0;
  std::atomic<int> open_connections_{0};
  std::atomic<bool> accepting_{false};
};

}  // namespace strata
