#include "fake_openai_server.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace strata::bench::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;

std::vector<int64_t> CharTokenizer::encode(const std::string& text, bool add_special_tokens) {
  std::vector<int64_t> ids;
  if (add_special_tokens) ids.push_back(kBos);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "<s>") == 0) {
      ids.push_back(kBos);
      i += 2;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ids.push_back(c >= 32 && c < 127 ? c - 32 : 0);
  }
  return ids;
}

Result<std::string> CharTokenizer::decode(const std::vector<int64_t>& ids) {
  std::string text;
  for (int64_t id : ids) {
    if (id < 0 || id >= kVocab) return make_error("Token id {} is out of vocabulary", id);
    if (id == kBos)
      text += "<s>";
    else
      text.push_back(static_cast<char>(32 + id));
  }
  return text;
}

struct FakeOpenAiServer::Impl {
  FakeOpenAiServer* owner = nullptr;
  FakeServerConfig config;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  std::mutex mu;
  std::vector<std::thread> conn_threads;
  std::vector<std::shared_ptr<tcp::socket>> sockets;

  void accept_loop() {
    while (!stopping) {
      auto sock = std::make_shared<tcp::socket>(ioc);
      beast::error_code ec;
      acceptor.accept(*sock, ec);
      if (ec || stopping) break;
      sock->set_option(tcp::no_delay(true), ec);  // else Nagle holds the split halves of an event
      ++owner->num_connections_;
      std::lock_guard<std::mutex> lock(mu);
      sockets.push_back(sock);
      conn_threads.emplace_back([this, sock] { serve(*sock); });
    }
  }

  static void send_json(tcp::socket& sock, int status, const json& body, bool keep_alive,
                        beast::error_code& ec) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = body.dump();
    res.prepare_payload();
    http::write(sock, res, ec);
  }

  static void write_chunk(tcp::socket& sock, const std::string& data, beast::error_code& ec) {
    net::write(sock, net::buffer(fmt::format("{:x}\r\n{}\r\n", data.size(), data)), ec);
  }

  void stream(tcp::socket& sock, const json& req, bool chat, beast::error_code& ec) {
    const int64_t max_tokens = req.value(chat ? "max_completion_tokens" : "max_tokens", int64_t{16});
    std::string prompt;
    if (chat) {
      for (const json& m : req["messages"]) prompt += m["content"].get<std::string>();
    } else {
      prompt = req["prompt"].get<std::string>();
    }
    const int64_t prompt_tokens = static_cast<int64_t>(CharTokenizer::encode(prompt, true).size());
    const bool usage = req.contains("stream_options") && req["stream_options"].value("include_usage", false);
    net::write(sock,
               net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                       "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")),
               ec);
    const std::string obj = chat ? "chat.completion.chunk" : "text_completion";
    for (int64_t t = 0; t < max_tokens && !ec; ++t) {
      json choice = {{"index", 0},
                     {"logprobs", nullptr},
                     {"finish_reason", t + 1 == max_tokens ? json("length") : json(nullptr)}};
      if (chat)
        choice["delta"] = t == 0 ? json{{"role", "assistant"}, {"content", "a"}} : json{{"content", "a"}};
      else
        choice["text"] = "a";
      json chunk = {{"id", "cmpl-1"},
                    {"object", obj},
                    {"created", 0},
                    {"model", config.model},
                    {"choices", json::array({choice})}};
      const std::string event = "data: " + chunk.dump() + "\n\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(config.chunk_delay_ms));
      if (t + 1 == max_tokens) {
        // Last token, usage and [DONE] together in one HTTP chunk.
        std::string tail = event;
        if (usage) {
          json u = {{"id", "cmpl-1"},
                    {"object", obj},
                    {"created", 0},
                    {"model", config.model},
                    {"choices", json::array()},
                    {"usage",
                     {{"prompt_tokens", prompt_tokens},
                      {"completion_tokens", max_tokens},
                      {"total_tokens", prompt_tokens + max_tokens}}}};
          tail += "data: " + u.dump() + "\n\n";
        }
        tail += "data: [DONE]\n\n";
        write_chunk(sock, tail, ec);
      } else {
        // One event split across two HTTP chunks, in the middle of its JSON.
        const size_t half = event.size() / 2;
        write_chunk(sock, event.substr(0, half), ec);
        if (!ec) write_chunk(sock, event.substr(half), ec);
      }
    }
    if (!ec) net::write(sock, net::buffer(std::string("0\r\n\r\n")), ec);
  }

  void serve(tcp::socket& sock) {
    beast::flat_buffer buffer;
    while (!stopping) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(sock, buffer, req, ec);
      if (ec) break;
      const std::string target(req.target());
      const bool keep = req.keep_alive();
      json body = req.body().empty() ? json::object() : json::parse(req.body(), nullptr, false);
      if (body.is_discarded()) {
        send_json(sock, 400, {{"error", {{"message", "bad json"}}}}, keep, ec);
      } else if (target == "/v1/models") {
        send_json(sock, 200,
                  {{"object", "list"},
                   {"data", json::array({{{"id", config.model},
                                          {"object", "model"},
                                          {"root", "/models/" + config.model},
                                          {"owned_by", "vllm"},
                                          {"max_model_len", 4096}}})}},
                  keep, ec);
      } else if (target == "/tokenize") {
        auto ids = CharTokenizer::encode(body.value("prompt", ""), body.value("add_special_tokens", true));
        send_json(sock, 200,
                  {{"count", ids.size()}, {"max_model_len", 4096}, {"tokens", ids}, {"token_strs", nullptr}},
                  keep, ec);
      } else if (target == "/detokenize") {
        auto text = CharTokenizer::decode(body.value("tokens", std::vector<int64_t>{}));
        if (text.ok())
          send_json(sock, 200, {{"prompt", *text}}, keep, ec);
        else
          send_json(sock, 400, {{"error", {{"message", text.error().message()}}}}, keep, ec);
      } else if (target == "/v1/completions" || target == "/v1/chat/completions") {
        if (body.value("model", config.model) != config.model) {
          send_json(sock, 404, {{"error", {{"message", "The model does not exist."}, {"code", 404}}}}, keep,
                    ec);
        } else {
          const int64_t now = ++owner->in_flight_;
          int64_t prev = owner->max_in_flight_.load();
          while (now > prev && !owner->max_in_flight_.compare_exchange_weak(prev, now)) {
          }
          ++owner->num_completions_;
          stream(sock, body, target == "/v1/chat/completions", ec);
          --owner->in_flight_;
        }
      } else {
        send_json(sock, 404, {{"error", {{"message", "not found"}}}}, keep, ec);
      }
      if (ec || !keep) break;
    }
    beast::error_code ignored;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
  }
};

FakeOpenAiServer::FakeOpenAiServer(FakeServerConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->config = std::move(config);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(net::socket_base::max_listen_connections);
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

FakeOpenAiServer::~FakeOpenAiServer() {
  impl_->stopping = true;
  {
    // Wake the blocking accept() with a connection of our own.
    net::io_context ioc;
    tcp::socket wake(ioc);
    beast::error_code ec;
    wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), impl_->port), ec);
  }
  impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& s : impl_->sockets) {
      beast::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
    }
    threads.swap(impl_->conn_threads);
  }
  for (auto& t : threads) t.join();
}

std::string FakeOpenAiServer::base_url() const {
  return fmt::format("http://127.0.0.1:{}", impl_->port);
}

}  // namespace strata::bench::test
