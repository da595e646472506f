// HTTP/1.1 client of `strata bench serve` (plain http, Boost.Beast underneath, kept out of this header).
//
// One io_context is run by a small pool of threads; every exchange is a chain of async operations on
// its own connection (each connection has its own strand), so a thousand requests in flight cost a
// thousand sockets and no threads. Responses are read incrementally: the body (after chunked transfer
// decoding) is handed to the caller piece by piece as it arrives, with the arrival time, which is what
// the streaming (SSE) measurements need. Finished keep-alive connections go back to an idle pool and
// are reused; a request that fails on a reused connection before any response byte is retried once on
// a fresh one (the server may have closed the idle socket).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::bench {

using BenchClock = std::chrono::steady_clock;

struct HttpUrl {
  std::string host;
  std::string port;         // "80" when the URL names none
  std::string path_prefix;  // e.g. "" or "/proxy" (no trailing slash)
};
// Parses "http://host[:port][/prefix]"; https is refused (plain http only).
Result<HttpUrl> parse_http_url(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string body;
};

// Events of one exchange; called in order, never concurrently for one exchange, on an I/O thread.
struct HttpStreamHandler {
  std::function<void(int status, std::string_view reason)> on_headers;
  std::function<void(std::string_view bytes, BenchClock::time_point at)> on_body;
  // Last call: empty error when the whole response was read, otherwise what went wrong.
  std::function<void(const std::string& error)> on_done;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // Resolves the host once; `api_key`, when not empty, is sent as "Authorization: Bearer <key>".
  static Result<std::unique_ptr<HttpClient>> create(const std::string& base_url, int num_io_threads,
                                                    std::string api_key);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts an exchange and returns at once. `target` is appended to the URL's path prefix; a
  // non-empty body is sent as application/json (POST); an empty one with is_post false is a GET.
  void start(bool is_post, const std::string& target, std::string body, const HttpHeaders& headers,
             std::shared_ptr<HttpStreamHandler> handler);

  // Blocking helpers (never call them from an I/O thread).
  Result<HttpResponse> request(bool is_post, const std::string& target, std::string body);
  // GET/POST expecting 200 and a JSON body; any other outcome is an Error naming the target.
  Result<nlohmann::json> get_json(const std::string& target);
  Result<nlohmann::json> post_json(const std::string& target, const nlohmann::json& body);

  const std::string& base_url() const { return base_url_; }

  struct Impl;  // defined in serve_http.cpp

 private:
  HttpClient(std::unique_ptr<Impl> impl, std::string base_url);
  std::unique_ptr<Impl> impl_;
  std::string base_url_;
};

// nlohmann dump that never throws (invalid UTF-8 is replaced).
std::string dump_json(const nlohmann::json& j);

}  // namespace strata::bench
