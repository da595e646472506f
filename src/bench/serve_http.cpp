#include "bench/serve_http.h"

#include <sys/resource.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

namespace strata::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// vLLM's aiohttp session allows a request six hours in total.
constexpr std::chrono::hours kRequestTimeout{6};

// A thousand sockets in flight need more descriptors than the common soft limit of 1024.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<HttpUrl> parse_http_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) return make_error("{}: https is not supported (plain http only)", url);
  if (rest.rfind("http://", 0) == 0)
    rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos)
    return make_error("{}: not an http:// URL", url);
  HttpUrl out;
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.path_prefix = rest.substr(slash);
  while (!out.path_prefix.empty() && out.path_prefix.back() == '/') out.path_prefix.pop_back();
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string::npos) return make_error("{}: bad IPv6 host", url);
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') out.port = authority.substr(close + 2);
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return make_error("{}: no host in URL", url);
  if (out.port.empty()) out.port = "80";
  if (out.port.find_first_not_of("0123456789") != std::string::npos) return make_error("{}: bad port", url);
  return out;
}

struct HttpClient::Impl {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::vector<std::thread> threads;
  tcp::resolver::results_type endpoints;
  std::string host_header;
  std::string path_prefix;
  std::string api_key;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;

  std::unique_ptr<beast::tcp_stream> fresh_stream() {
    return std::make_unique<beast::tcp_stream>(net::make_strand(ioc));
  }
  std::unique_ptr<beast::tcp_stream> acquire(bool& reused) {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (!idle.empty()) {
      auto s = std::move(idle.back());
      idle.pop_back();
      reused = true;
      return s;
    }
    reused = false;
    return nullptr;
  }
  void release(std::unique_ptr<beast::tcp_stream> s) {
    s->expires_never();
    std::lock_guard<std::mutex> lock(pool_mu);
    idle.push_back(std::move(s));
  }
};

namespace {

// One request/response on one connection; owns itself through shared_ptr while operations run.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(HttpClient::Impl& impl, http::request<http::string_body> req, std::shared_ptr<HttpStreamHandler> h)
      : impl_(impl), req_(std::move(req)), handler_(std::move(h)) {}

  void start() {
    stream_ = impl_.acquire(reused_);
    if (!stream_) stream_ = impl_.fresh_stream();
    net::dispatch(stream_->get_executor(), [self = shared_from_this()] { self->begin(); });
  }

 private:
  void begin() {
    stream_->expires_after(kRequestTimeout);
    if (reused_) return write();
    stream_->async_connect(impl_.endpoints,
                           beast::bind_front_handler(&Exchange::on_connect, shared_from_this()));
  }

  void on_connect(beast::error_code ec, const tcp::endpoint&) {
    if (ec) return fail("connect: " + ec.message());
    stream_->socket().set_option(tcp::no_delay(true), ec);
    write();
  }

  void write() {
    http::async_write(*stream_, req_, beast::bind_front_handler(&Exchange::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    if (ec) return retry_or_fail("write", ec);
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // boost::none is broken in 1.74
    http::async_read_header(*stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Exchange::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec) return retry_or_fail("read", ec);
    const auto& msg = parser_->get();
    if (handler_->on_headers)
      handler_->on_headers(static_cast<int>(msg.result_int()),
                           std::string_view(msg.reason().data(), msg.reason().size()));
    if (parser_->is_done()) return finish();
    read_body();
  }

  void read_body() {
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    http::async_read_some(*stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Exchange::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, size_t) {
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = chunk_.size() - parser_->get().body().size;
    if (got > 0 && handler_->on_body)
      handler_->on_body(std::string_view(chunk_.data(), got), BenchClock::now());
    if (ec) return fail("read: " + ec.message());
    if (parser_->is_done()) return finish();
    read_body();
  }

  // A reused idle connection may have been closed by the server: retry once on a new one.
  void retry_or_fail(const char* what, beast::error_code ec) {
    if (reused_ && !retried_) {
      retried_ = true;
      reused_ = false;
      beast::error_code ignored;
      stream_->socket().close(ignored);
      buffer_.consume(buffer_.size());
      stream_->async_connect(impl_.endpoints,
                             beast::bind_front_handler(&Exchange::on_connect, shared_from_this()));
      return;
    }
    fail(std::string(what) + ": " + ec.message());
  }

  void fail(const std::string& error) {
    beast::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->socket().close(ignored);
    done(error);
  }

  void finish() {
    if (parser_->keep_alive() && buffer_.size() == 0) {
      impl_.release(std::move(stream_));
    } else {
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_->socket().close(ignored);
    }
    done("");
  }

  void done(const std::string& error) {
    if (handler_->on_done) handler_->on_done(error);
    handler_.reset();
  }

  HttpClient::Impl& impl_;
  http::request<http::string_body> req_;
  std::shared_ptr<HttpStreamHandler> handler_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 16384> chunk_{};
  bool reused_ = false;
  bool retried_ = false;
};

}  // namespace

HttpClient::HttpClient(std::unique_ptr<Impl> impl, std::string base_url)
    : impl_(std::move(impl)), base_url_(std::move(base_url)) {}

HttpClient::~HttpClient() {
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->idle.clear();
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(const std::string& base_url, int num_io_threads,
                                                       std::string api_key) {
  STRATA_TRY(HttpUrl url, parse_http_url(base_url));
  raise_fd_limit();
  auto impl = std::make_unique<Impl>();
  tcp::resolver resolver(impl->ioc);
  beast::error_code ec;
  impl->endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return make_error("{}: cannot resolve {}: {}", base_url, url.host, ec.message());
  const bool v6 = url.host.find(':') != std::string::npos;
  impl->host_header = (v6 ? "[" + url.host + "]" : url.host) + ":" + url.port;
  impl->path_prefix = url.path_prefix;
  impl->api_key = std::move(api_key);
  for (int i = 0; i < std::max(1, num_io_threads); ++i)
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl), base_url));
}

void HttpClient::start(bool is_post, const std::string& target, std::string body, const HttpHeaders& headers,
                       std::shared_ptr<HttpStreamHandler> handler) {
  http::request<http::string_body> req{is_post ? http::verb::post : http::verb::get,
                                       impl_->path_prefix + target, 11};
  req.set(http::field::host, impl_->host_header);
  req.set(http::field::user_agent, "strata-bench");
  req.set(http::field::accept, "*/*");
  if (!impl_->api_key.empty()) req.set(http::field::authorization, "Bearer " + impl_->api_key);
  if (is_post) req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  std::make_shared<Exchange>(*impl_, std::move(req), std::move(handler))->start();
}

Result<HttpResponse> HttpClient::request(bool is_post, const std::string& target, std::string body) {
  auto response = std::make_shared<HttpResponse>();
  auto promise = std::make_shared<std::promise<std::string>>();
  auto handler = std::make_shared<HttpStreamHandler>();
  handler->on_headers = [response](int status, std::string_view reason) {
    response->status = status;
    response->reason = std::string(reason);
  };
  handler->on_body = [response](std::string_view bytes, BenchClock::time_point) {
    response->body.append(bytes);
  };
  handler->on_done = [promise](const std::string& error) { promise->set_value(error); };
  std::future<std::string> done = promise->get_future();
  start(is_post, target, std::move(body), {}, std::move(handler));
  const std::string error = done.get();
  if (!error.empty()) return make_error("{}{}: {}", base_url_, target, error);
  return std::move(*response);
}

namespace {

Result<nlohmann::json> expect_json(const std::string& where, Result<HttpResponse> r) {
  if (!r.ok()) return r.error();
  if (r->status != 200) {
    std::string body = r->body.substr(0, 500);
    return make_error("{}: HTTP {} {}: {}", where, r->status, r->reason, body);
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return make_error("{}: response is not JSON: {}", where, r->body.substr(0, 200));
  return j;
}

}  // namespace

Result<nlohmann::json> HttpClient::get_json(const std::string& target) {
  return expect_json(base_url_ + target, request(false, target, ""));
}

Result<nlohmann::json> HttpClient::post_json(const std::string& target, const nlohmann::json& body) {
  return expect_json(base_url_ + target, request(true, target, dump_json(body)));
}

}  // namespace strata::bench
