// Transport basics: EventLoop, Dispatcher, framing helpers. The connection
// lives in connection.cc/connection_impl.h, the server and Connect() in
// server.cc, the blocking peer in blocking.cc. See rpc.h for the wire format.
#include "rpc/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <vector>

#include "base/logging.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"

namespace lumen::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace detail {

bool TokenEquals(std::string_view a, std::string_view b) {
  // Walk the longer of the two so the time depends only on the lengths.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  // Keep the compiler from short-circuiting the loop.
  volatile unsigned char result = diff;
  return result == 0;
}

StatusOr<ParsedAddress> ParseAddress(const std::string &address) {
  ParsedAddress out;
  std::string_view a = address;
  if (a.rfind("unix:", 0) == 0 || (!a.empty() && a[0] == '/')) {
    out.is_unix = true;
    out.path = std::string(a[0] == '/' ? a : a.substr(5));
    if (out.path.empty()) return Status::InvalidArgument("empty unix socket path in '" + address + "'");
    return out;
  }
  if (a.rfind("tcp:", 0) == 0) {
    a.remove_prefix(4);
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size())
      return Status::InvalidArgument("bad tcp address '" + address + "', want tcp:host:port");
    std::string host(a.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 0;
    for (char c : a.substr(colon + 1)) {
      if (c < '0' || c > '9' || port > 65535) return Status::InvalidArgument("bad port in '" + address + "'");
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) return Status::InvalidArgument("bad port in '" + address + "'");
    out.host = std::move(host);
    out.port = port;
    return out;
  }
  return Status::InvalidArgument("unknown address scheme '" + address +
                                 "', want unix:/path or tcp:host:port");
}

std::string MakeHelloBody(const std::string &token) {
  lumen::rpc::Hello hello;
  hello.set_token(token);
  hello.set_client_name(program_invocation_short_name ? program_invocation_short_name : "lumen");
  hello.set_pid(static_cast<int32_t>(getpid()));
  return hello.SerializeAsString();
}

}  // namespace detail

// ---------------------------------------------------------------------------
// EventLoop

EventLoop::EventLoop(std::string name) : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this, name = std::move(name)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception &e) {
        // A handler threw; log and keep the loop alive.
        LUMEN_LOG_ERROR("event loop: handler threw: {}", e.what());
      } catch (...) {
        LUMEN_LOG_ERROR("event loop: handler threw a non-std exception");
      }
    }
  });
  thread_id_ = thread_.get_id();
}

EventLoop::~EventLoop() {
  Stop();
  if (thread_.joinable()) thread_.detach();  // only when destroyed on its own thread
}

void EventLoop::Post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

bool EventLoop::InLoopThread() const { return std::this_thread::get_id() == thread_id_; }

void EventLoop::Stop() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable() && !InLoopThread()) thread_.join();
}

// ---------------------------------------------------------------------------
// Dispatcher

void Dispatcher::Register(uint16_t method, Handler handler) { handlers_[method] = std::move(handler); }

const Handler *Dispatcher::Find(uint16_t method) const {
  auto it = handlers_.find(method);
  return it == handlers_.end() ? nullptr : &it->second;
}

bool ParseBody(std::string_view body, google::protobuf::MessageLite *msg) {
  if (body.size() > static_cast<size_t>(INT32_MAX)) return false;
  return msg->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

}  // namespace lumen::rpc
