// Server (accepting unix and tcp connections) and the client-side Connect().
#include <sys/un.h>

#include <boost/asio/steady_timer.hpp>

#include "base/open_files.h"
#include "rpc/connection_impl.h"

namespace lumen::rpc {

using namespace detail;

// ---------------------------------------------------------------------------
// Server

namespace {

// Out of descriptors, the usual cause when many peers connect, is named with
// the limit itself: "Too many open files" alone does not say which process or
// what to raise.
std::string ConnectFailure(const std::string &peer, const boost::system::error_code &ec) {
  std::string why = "cannot connect to " + peer + ": " + ec.message();
  if (IsOpenFileLimitError(ec.value())) why += ": this process has reached " + DescribeOpenFileLimit();
  return why;
}

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(EventLoop &loop, std::string token, const Dispatcher *dispatcher)
      : loop(loop), token(std::move(token)), dispatcher(dispatcher) {}

  EventLoop &loop;
  const std::string token;
  const Dispatcher *dispatcher;

  Mutex mu;
  bool stopped GUARDED_BY(mu) = false;
  std::vector<std::unique_ptr<unix_socket::acceptor>> unix_acceptors GUARDED_BY(mu);
  std::vector<std::string> unix_paths GUARDED_BY(mu);
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors GUARDED_BY(mu);
  std::unordered_map<Connection *, ConnectionPtr> conns GUARDED_BY(mu);
  std::atomic<size_t> num_authenticated{0};
  std::function<void(const ConnectionPtr &)> connect_handler GUARDED_BY(mu);
  std::unordered_map<const void *, int> accept_failures GUARDED_BY(mu);  // by acceptor, in the current spell

  void Adopt(const ConnectionPtr &conn) {
    auto *impl = ConnImpl(conn);
    impl->token = token;
    impl->handshake_deadline = Clock::now() + kHandshakeTimeout;
    std::weak_ptr<ServerState> weak = shared_from_this();
    impl->on_authenticated = [weak](const ConnectionPtr &c) {
      auto st = weak.lock();
      if (!st) return;
      std::function<void(const ConnectionPtr &)> h;
      {
        MutexLock lock(st->mu);
        h = st->connect_handler;
      }
      st->num_authenticated++;
      ConnImpl(c)->on_authenticated = nullptr;
      if (h) h(c);
    };
    impl->on_close_internal = [weak](Connection *c) {
      auto st = weak.lock();
      if (!st) return;
      ConnectionPtr keep;
      MutexLock lock(st->mu);
      auto it = st->conns.find(c);
      if (it != st->conns.end()) {
        if (ConnImpl(it->second)->authenticated) st->num_authenticated--;
        keep = std::move(it->second);  // released after the lock
        st->conns.erase(it);
      }
    };
    {
      MutexLock lock(mu);
      if (stopped) {
        conn->Close();
        return;
      }
      conns.emplace(conn.get(), conn);
    }
    {
      MutexLock lock(impl->pending_mu);
      impl->sweep_armed = true;  // the handshake deadline
    }
    impl->ArmSweep();
    impl->StartRead();
  }

  static Connection::Impl *ConnImpl(const ConnectionPtr &c) { return Connection::Impl::Of(c); }

  // A failed accept is not retried at once: the pending connection keeps the
  // listener readable, so an immediate retry spins and floods the log while
  // nothing frees up (out of descriptors, the usual cause). The first failure
  // of a spell is reported with its cause; retries back off (2 ms doubling to
  // 1 s) and the connections wait in the backlog; a success ends the spell.
  // Returns false when the caller must not re-arm the accept now.
  template <typename Acceptor, typename Rearm>
  bool AfterAccept(Acceptor *acc, const std::string &where, const boost::system::error_code &ec,
                   Rearm rearm) {
    int failures;
    {
      MutexLock lock(mu);
      if (!ec) {
        auto it = accept_failures.find(acc);
        if (it == accept_failures.end()) return true;
        failures = it->second;
        accept_failures.erase(it);
      } else {
        failures = ++accept_failures[acc];
      }
    }
    if (!ec) {
      LUMEN_LOG_INFO("rpc: accepting on {} again after {} failed attempt(s)", where, failures);
      return true;
    }
    if (failures == 1) {
      if (IsOpenFileLimitError(ec.value())) {
        LUMEN_LOG_ERROR(
            "rpc: cannot accept connections on {}: {}: this process has reached {}; new connections "
            "wait until descriptors are freed (raise the limit with `ulimit -n`)",
            where, ec.message(), DescribeOpenFileLimit());
      } else {
        LUMEN_LOG_ERROR("rpc: accept on {} failed: {}; retrying with back-off", where, ec.message());
      }
    }
    auto timer = std::make_shared<asio::steady_timer>(loop.io(),
                                                      std::chrono::milliseconds(1 << std::min(failures, 10)));
    timer->async_wait([self = shared_from_this(), timer, acc, rearm](const boost::system::error_code &tec) {
      if (tec) return;
      MutexLock lock(self->mu);
      if (!self->stopped && acc->is_open()) rearm();
    });
    return false;
  }

  void AcceptUnix(unix_socket::acceptor *acc, std::string path) {
    auto self = shared_from_this();
    acc->async_accept([self, acc, path](const boost::system::error_code &ec, unix_socket::socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!self->AfterAccept(acc, "unix:" + path, ec, [self, acc, path] { self->AcceptUnix(acc, path); }))
        return;
      self->Adopt(MakeConnection<unix_socket::socket>(self->loop, Role::kServer, "unix:" + path,
                                                      self->dispatcher, std::move(sock)));
      MutexLock lock(self->mu);
      if (!self->stopped && acc->is_open()) self->AcceptUnix(acc, path);
    });
  }

  void AcceptTcp(tcp::acceptor *acc) {
    auto self = shared_from_this();
    acc->async_accept([self, acc](const boost::system::error_code &ec, tcp::socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!self->AfterAccept(acc, "tcp", ec, [self, acc] { self->AcceptTcp(acc); })) return;
      {
        boost::system::error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        std::string peer = "tcp:?";
        auto ep = sock.remote_endpoint(ignored);
        if (!ignored) peer = "tcp:" + ep.address().to_string() + ":" + std::to_string(ep.port());
        self->Adopt(MakeConnection<tcp::socket>(self->loop, Role::kServer, std::move(peer), self->dispatcher,
                                                std::move(sock)));
      }
      MutexLock lock(self->mu);
      if (!self->stopped && acc->is_open()) self->AcceptTcp(acc);
    });
  }

  // Loop thread (or with the loop stopped).
  void StopNow() {
    std::vector<ConnectionPtr> to_close;
    {
      MutexLock lock(mu);
      stopped = true;
      boost::system::error_code ec;
      for (auto &a : unix_acceptors) a->close(ec);
      for (auto &a : tcp_acceptors) a->close(ec);
      for (auto &p : unix_paths) ::unlink(p.c_str());
      unix_paths.clear();
      for (auto &[raw, c] : conns) to_close.push_back(c);
    }
    for (auto &c : to_close) Connection::Impl::Of(c)->DoClose(Status::Disconnected("server stopped"));
  }
};

}  // namespace

struct Server::Impl {
  std::shared_ptr<ServerState> st;
};

Server::Server(EventLoop &loop, std::string token, const Dispatcher *dispatcher)
    : impl_(std::make_unique<Impl>()) {
  impl_->st = std::make_shared<ServerState>(loop, std::move(token), dispatcher);
}

Server::~Server() { Stop(); }

Status Server::ListenUnix(const std::string &path) {
  auto &st = *impl_->st;
  {
    MutexLock lock(st.mu);
    if (st.stopped) return Status::Internal("server is stopped");
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("unix socket path too long: " + path);
  struct stat sb;
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) return Status::AlreadyExists(path + " exists and is not a socket");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::IoError("cannot remove stale socket " + path + ": " + std::strerror(errno));
  }
  // The socket is bound, made private and listening under a temporary name,
  // then renamed into place: whoever sees `path` can connect at once. (Bound
  // in place, the path exists before listen(), and a client that waits for
  // the file gets ECONNREFUSED in between.) A path too long for a suffix is
  // bound in place.
  std::string staging = path + ".new";
  if (staging.size() >= sizeof(sockaddr_un::sun_path)) staging = path;
  if (staging != path && ::lstat(staging.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode))
    ::unlink(staging.c_str());
  auto acc = std::make_unique<unix_socket::acceptor>(st.loop.io());
  boost::system::error_code ec;
  unix_socket::endpoint ep(staging);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->bind(ep, ec);
  if (ec) return Status::IoError("cannot bind unix socket " + staging + ": " + ec.message());
  auto fail = [&](const std::string &what) {
    acc->close(ec);
    ::unlink(staging.c_str());
    return Status::IoError(what);
  };
  if (::chmod(staging.c_str(), 0600) != 0)
    return fail("cannot chmod " + staging + ": " + std::strerror(errno));
  acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on " + staging + ": " + ec.message());
  if (staging != path && ::rename(staging.c_str(), path.c_str()) != 0)
    return fail("cannot move " + staging + " to " + path + ": " + std::strerror(errno));
  MutexLock lock(st.mu);
  if (st.stopped) {
    acc->close(ec);
    ::unlink(path.c_str());
    return Status::Internal("server is stopped");
  }
  st.unix_acceptors.push_back(std::move(acc));
  st.unix_paths.push_back(path);
  st.AcceptUnix(st.unix_acceptors.back().get(), path);
  LUMEN_LOG_DEBUG("rpc: listening on unix:{}", path);
  return Status::OK();
}

StatusOr<int> Server::ListenTcp(const std::string &host, int port) {
  auto &st = *impl_->st;
  if (port < 0 || port > 65535) return Status::InvalidArgument("bad port " + std::to_string(port));
  boost::system::error_code ec;
  tcp::endpoint ep;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, static_cast<uint16_t>(port));
  } else {
    tcp::resolver resolver(st.loop.io());
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) return Status::IoError("cannot resolve " + host + ": " + ec.message());
    ep = results.begin()->endpoint();
  }
  auto acc = std::make_unique<tcp::acceptor>(st.loop.io());
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::IoError("cannot listen on tcp:" + host + ":" + std::to_string(port) + ": " + ec.message());
  int bound = acc->local_endpoint(ec).port();
  if (ec) return Status::IoError("cannot read bound port: " + ec.message());
  MutexLock lock(st.mu);
  if (st.stopped) return Status::Internal("server is stopped");
  st.tcp_acceptors.push_back(std::move(acc));
  st.AcceptTcp(st.tcp_acceptors.back().get());
  LUMEN_LOG_DEBUG("rpc: listening on tcp:{}:{}", host, bound);
  return bound;
}

void Server::SetConnectHandler(std::function<void(const ConnectionPtr &)> handler) {
  MutexLock lock(impl_->st->mu);
  impl_->st->connect_handler = std::move(handler);
}

void Server::Stop() {
  auto st = impl_->st;
  {
    MutexLock lock(st->mu);
    if (st->stopped && st->conns.empty()) return;
  }
  EventLoop &loop = st->loop;
  if (loop.InLoopThread() || loop.io().stopped()) {
    st->StopNow();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  loop.Post([st, done] {
    st->StopNow();
    done->set_value();
  });
  EventLoop::WaitScope waiting(loop);
  while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (loop.io().stopped()) {
      // The loop died before running our task; it will not touch the sockets again.
      st->StopNow();
      return;
    }
  }
}

size_t Server::NumConnections() const { return impl_->st->num_authenticated.load(); }

// ---------------------------------------------------------------------------
// Connect

namespace {

template <typename Socket, typename Endpoints>
StatusOr<ConnectionPtr> ConnectWith(EventLoop &loop, const Endpoints &endpoints, std::string peer,
                                    const std::string &token, const Dispatcher *dispatcher,
                                    std::chrono::milliseconds timeout, bool wait_for_handshake = true) {
  auto conn = MakeConnection<Socket>(loop, Role::kClient, std::move(peer), dispatcher);
  auto *impl = static_cast<SocketImpl<Socket> *>(Connection::Impl::Of(conn));
  auto wait = std::make_shared<HandshakeWait>();
  impl->handshake = wait;
  impl->token = token;
  impl->client_nonce = auth::NewNonce();
  bool connected = false;
  if constexpr (!std::is_same_v<Socket, tcp::socket>) {
    if (!wait_for_handshake) {
      // A Unix-socket connect completes (or fails) at once in the kernel:
      // do it here, so that a peer that is gone is reported now, by a
      // failed Connect, and not later by the calls queued behind the hello.
      boost::system::error_code ec;
      impl->socket.open(unix_socket::socket::protocol_type(), ec);
      if (!ec) impl->socket.non_blocking(true, ec);
      if (!ec) impl->socket.connect(endpoints, ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        // Backlog full: let the loop wait for it.
        boost::system::error_code ignored;
        impl->socket.close(ignored);
      } else if (ec) {
        conn->Close();
        return Status::IoError(ConnectFailure(impl->peer, ec));
      } else {
        impl->socket.non_blocking(false, ec);  // as the loop's own connect leaves it
        if (Status peer = auth::CheckPeerIsSameUser(impl->NativeFd(), impl->peer); !peer.ok()) {
          LUMEN_LOG_ERROR("rpc: {}", peer.message());
          conn->Close();
          return peer;
        }
        connected = true;
      }
    }
  }
  {
    // What callers send waits until the server has proved the token
    // (Impl::SendHello, SendProof).
    MutexLock lock(impl->out_mu);
    impl->write_in_flight = true;
  }
  loop.Post([conn, endpoints, impl, connected] {
    auto on_connected = [conn, impl, connected](const boost::system::error_code &ec) {
      if (ec) {
        impl->handshake->Finish(Status::IoError(ConnectFailure(impl->peer, ec)));
        impl->DoClose(Status::IoError("connect failed: " + ec.message()));
        return;
      }
      Status st;
      if constexpr (std::is_same_v<Socket, tcp::socket>) {
        (void)connected;  // the peer check below is for Unix sockets
        boost::system::error_code ignored;
        impl->socket.set_option(tcp::no_delay(true), ignored);
      } else if (!connected) {
        // Before a byte goes out: a socket planted by another user is refused.
        st = auth::CheckPeerIsSameUser(impl->NativeFd(), impl->peer);
        if (!st.ok()) LUMEN_LOG_ERROR("rpc: {}", st.message());
      }
      if (st.ok()) st = impl->SendHello();
      if (!st.ok()) {
        impl->handshake->Finish(st);
        impl->DoClose(st);
        return;
      }
      impl->StartRead();
    };
    if (impl->close_requested.load()) {
      impl->DoClose(Status::Disconnected("connect cancelled"));
      return;
    }
    if (connected) {
      on_connected({});
      return;
    }
    if constexpr (std::is_same_v<Socket, tcp::socket>) {
      asio::async_connect(
          impl->socket, endpoints,
          [on_connected](const boost::system::error_code &ec, const tcp::endpoint &) { on_connected(ec); });
    } else {
      impl->socket.async_connect(endpoints, on_connected);
    }
  });
  // Pipelined: what is sent next waits in the queue for the handshake, then
  // follows the proof; a failed handshake closes the connection and fails
  // those calls.
  if (!wait_for_handshake) return conn;
  Status result;
  {
    EventLoop::WaitScope waiting(loop);
    MutexLock lock(wait->mu);
    if (!wait->cv.wait_for(lock.native(), timeout, [&]() REQUIRES(wait->mu) { return wait->done; })) {
      result = Status::TimedOut("handshake with " + impl->peer + " timed out");
    } else {
      result = wait->status;
    }
  }
  if (!result.ok()) {
    conn->Close();
    return result;
  }
  return conn;
}

}  // namespace

StatusOr<ConnectionPtr> ConnectPipelined(EventLoop &loop, const std::string &unix_path,
                                         const std::string &token, const Dispatcher *dispatcher) {
  auto parsed = detail::ParseAddress(unix_path);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_unix) {
    // TCP: only a numeric address, so nothing blocks on a resolver (this
    // may run on the loop thread). The connect itself completes on the loop;
    // a peer that is not there fails the calls queued behind the hello.
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(parsed->host, ec);
    if (ec)
      return Status::InvalidArgument("ConnectPipelined takes a Unix socket or a numeric TCP address: " +
                                     unix_path);
    std::vector<tcp::endpoint> endpoints{tcp::endpoint(ip, static_cast<unsigned short>(parsed->port))};
    return ConnectWith<tcp::socket>(loop, endpoints,
                                    "tcp:" + parsed->host + ":" + std::to_string(parsed->port), token,
                                    dispatcher, std::chrono::milliseconds(0),
                                    /*wait_for_handshake=*/false);
  }
  if (parsed->path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("unix socket path too long: " + parsed->path);
  return ConnectWith<unix_socket::socket>(loop, unix_socket::endpoint(parsed->path), "unix:" + parsed->path,
                                          token, dispatcher, std::chrono::milliseconds(0),
                                          /*wait_for_handshake=*/false);
}

bool IsLoopbackHost(const std::string &host) {
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1";
}

StatusOr<ConnectionPtr> Connect(EventLoop &loop, const std::string &address, const std::string &token,
                                const Dispatcher *dispatcher, std::chrono::milliseconds timeout) {
  if (loop.InLoopThread())
    return Status::Internal("Connect called on the event loop thread (would deadlock)");
  auto parsed = detail::ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  if (parsed->is_unix) {
    if (parsed->path.size() >= sizeof(sockaddr_un::sun_path))
      return Status::InvalidArgument("unix socket path too long: " + parsed->path);
    return ConnectWith<unix_socket::socket>(loop, unix_socket::endpoint(parsed->path), "unix:" + parsed->path,
                                            token, dispatcher, timeout);
  }
  boost::system::error_code ec;
  tcp::resolver resolver(loop.io());
  auto results = resolver.resolve(parsed->host, std::to_string(parsed->port), ec);
  if (ec || results.empty()) return Status::IoError("cannot resolve " + parsed->host + ": " + ec.message());
  return ConnectWith<tcp::socket>(loop, results, "tcp:" + parsed->host + ":" + std::to_string(parsed->port),
                                  token, dispatcher, timeout);
}

}  // namespace lumen::rpc
