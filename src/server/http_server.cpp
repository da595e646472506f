#include "server/http_server.h"

#include <deque>
#include <optional>
#include <sstream>
#include <utility>

#include "core/logging.h"

namespace strata {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {
constexpr size_t kMaxBufferedWhileBusy = 64 * 1024;
constexpr std::chrono::seconds kWriteTimeout{60};

std::string status_line(unsigned status) {
  return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

std::string error_json(unsigned status, const std::string& type, const std::string& message) {
  std::string m;
  for (char c : message) {
    if (c == '"' || c == '\\') m += '\\';
    m += c;
  }
  return "{\"error\":{\"message\":\"" + m + "\",\"type\":\"" + type + "\",\"param\":null,\"code\":" +
         std::to_string(status) + "}}";
}
}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer& server) : stream_(std::move(socket)), server_(server) {
    ++server_.open_connections_;
  }
  ~Session() { --server_.open_connections_; }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // From any thread: queue bytes on the strand. `completes` marks the end of the current exchange.
  void enqueue(std::string bytes, bool completes) {
    net::post(stream_.get_executor(), [self = shared_from_this(), b = std::move(bytes), completes]() mutable {
      if (!self->dead_) self->queue_.push_back(std::move(b));
      if (completes) self->complete_ = true;
      self->pump();
    });
  }
  bool keep_alive() const { return keep_alive_; }
  void post(std::function<void()> fn) { net::post(stream_.get_executor(), std::move(fn)); }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(server_.options_.body_limit);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(server_.options_.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::header_limit) return reject(431, "request headers too large");
    // A Content-Length above the limit fails while the header is parsed.
    if (ec == http::error::body_limit)
      return reject(413, "request body exceeds " + std::to_string(server_.options_.body_limit) + " bytes");
    if (ec) return close();
    stream_.expires_after(server_.options_.body_timeout);
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue") && !parser_->is_done()) {
      // The client waits for this before sending its body (curl does for large bodies).
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(kContinue),
                              [self = shared_from_this()](beast::error_code ec, size_t) {
                                if (ec) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return reject(413, "request body exceeds " + std::to_string(server_.options_.body_limit) + " bytes");
    if (ec) return close();
    HttpRequest req = parser_->release();
    keep_alive_ = req.keep_alive();
    stream_.expires_never();
    complete_ = false;
    current_ = std::make_shared<Exchange>(shared_from_this(), std::move(req));
    watch();
    server_.dispatch(current_);
  }

  // Keeps one read outstanding while a handler works: EOF or an error means the client is gone;
  // bytes (a pipelined request) are kept for the next parse.
  void watch() {
    if (watching_ || buffer_.size() > kMaxBufferedWhileBusy) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->watching_ = false;
      const bool resume = std::exchange(self->resume_after_watch_, false);
      if (ec == net::error::operation_aborted && resume && !self->current_) return self->read_header();
      if (ec) {
        self->dead_ = true;
        if (self->current_) self->current_->notify_disconnect();
        self->current_.reset();
        return self->close();
      }
      self->buffer_.commit(n);
      // Bytes of the next request: stop watching (finish_exchange() parses them), or parse now if
      // the exchange already finished while we waited.
      if (!self->current_) self->read_header();
    });
  }

  void pump() {
    if (dead_) {
      if (complete_) current_.reset();
      return;
    }
    if (writing_) return;
    if (queue_.empty()) {
      if (complete_ && current_) finish_exchange();
      return;
    }
    writing_ = true;
    stream_.expires_after(kWriteTimeout);
    net::async_write(stream_, net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->queue_.pop_front();
      if (!self->current_ || !self->complete_) self->stream_.expires_never();
      if (ec) {
        self->dead_ = true;
        if (self->current_) self->current_->notify_disconnect();
        self->current_.reset();
        return self->close();
      }
      self->pump();
    });
  }

  void finish_exchange() {
    current_.reset();
    if (!keep_alive_) return close();
    stream_.expires_after(server_.options_.idle_timeout);
    if (!watching_) return read_header();
    if (buffer_.size() > 0) {
      // A pipelined request is already buffered: stop waiting for more bytes and parse it.
      resume_after_watch_ = true;
      beast::error_code ec;
      stream_.socket().cancel(ec);
    }  // else the outstanding read delivers the next request
  }

  void reject(unsigned status, const std::string& why) {
    keep_alive_ = false;
    std::string body = error_json(status, "BadRequestError", why);
    std::ostringstream os;
    os << "HTTP/1.1 " << status << " " << status_line(status) << "\r\nContent-Type: application/json\r\n"
       << "Content-Length: " << body.size() << "\r\nConnection: close\r\n\r\n" << body;
    current_.reset();
    queue_.push_back(os.str());
    complete_ = false;
    auto self = shared_from_this();
    stream_.expires_after(kWriteTimeout);
    net::async_write(stream_, net::buffer(queue_.front()), [self](beast::error_code, size_t) { self->close(); });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Exchange> current_;
  std::deque<std::string> queue_;
  bool keep_alive_ = true;
  bool writing_ = false;
  bool watching_ = false;
  bool resume_after_watch_ = false;  // the watch read was cancelled to parse a buffered request
  bool complete_ = false;
  bool dead_ = false;
};

Exchange::Exchange(std::shared_ptr<Session> session, HttpRequest req)
    : session_(std::move(session)), request_(std::move(req)) {}

void Exchange::respond(unsigned status, std::string body, std::string content_type) {
  std::ostringstream os;
  os << "HTTP/1.1 " << status << " " << status_line(status) << "\r\nServer: strata\r\n";
  if (!content_type.empty()) os << "Content-Type: " << content_type << "\r\n";
  for (const auto& [k, v] : headers_) os << k << ": " << v << "\r\n";
  os << "Content-Length: " << body.size() << "\r\n";
  os << "Connection: " << (session_->keep_alive() ? "keep-alive" : "close") << "\r\n\r\n" << body;
  session_->enqueue(os.str(), true);
}

void Exchange::start_stream() {
  std::ostringstream os;
  os << "HTTP/1.1 200 OK\r\nServer: strata\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
     << "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
  for (const auto& [k, v] : headers_) os << k << ": " << v << "\r\n";
  os << "Connection: " << (session_->keep_alive() ? "keep-alive" : "close") << "\r\n\r\n";
  session_->enqueue(os.str(), false);
}

void Exchange::send_event(const std::string& data) {
  const std::string payload = "data: " + data + "\n\n";
  std::ostringstream os;
  os << std::hex << payload.size() << "\r\n" << payload << "\r\n";
  session_->enqueue(os.str(), false);
}

void Exchange::post(std::function<void()> fn) { session_->post(std::move(fn)); }

void Exchange::end_stream() { session_->enqueue("0\r\n\r\n", true); }

void Exchange::on_disconnect(std::function<void()> fn) {
  bool now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    on_disconnect_ = std::move(fn);
    now = disconnected_.load();
  }
  if (now && on_disconnect_) on_disconnect_();
}

void Exchange::notify_disconnect() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (disconnected_.exchange(true)) return;
    fn = on_disconnect_;
  }
  if (fn) fn();
}

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)), acceptor_(io_) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& method, const std::string& path, Handler handler) {
  routes_[path][method] = std::move(handler);
}

Status HttpServer::start() {
  beast::error_code ec;
  auto addr = net::ip::make_address(options_.host, ec);
  if (ec) return make_error("--host {}: not an IP address", options_.host);
  tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return make_error("cannot listen on {}:{}: {}", options_.host, options_.port, ec.message());
  bound_port_ = acceptor_.local_endpoint().port();
  accepting_ = true;
  accept();
  for (int i = 0; i < options_.io_threads; ++i) threads_.emplace_back([this] { io_.run(); });
  return ok_status();
}

void HttpServer::accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (!accepting_) return;
    if (!ec) std::make_shared<Session>(std::move(socket), *this)->start();
    accept();
  });
}

void HttpServer::stop_accepting() {
  net::post(io_, [this] {
    accepting_ = false;
    beast::error_code ec;
    acceptor_.close(ec);
  });
}

void HttpServer::stop() {
  accepting_ = false;
  io_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void HttpServer::dispatch(const std::shared_ptr<Exchange>& ex) {
  try {
    if (filter_ && filter_(ex)) return;
    std::string target(ex->request().target());
    std::string path = target.substr(0, target.find('?'));
    auto it = routes_.find(path);
    if (it == routes_.end()) return ex->respond(404, error_json(404, "NotFoundError", "Not Found"));
    auto m = it->second.find(std::string(ex->request().method_string()));
    if (m == it->second.end()) return ex->respond(405, error_json(405, "MethodNotAllowed", "Method Not Allowed"));
    m->second(ex);
  } catch (const std::exception& e) {
    LOG_ERROR("handler failed: {}", e.what());
    ex->respond(500, error_json(500, "InternalServerError", e.what()));
  }
}

}  // namespace strata
