#include "geerpc/net.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <cstring>

namespace geerpc {

namespace {

// Asks whoever listens on a Unix socket file: refused means nobody does, so the file is stale.
bool is_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;  // absent, or not ours to remove
  asio::io_context io;
  asio::local::stream_protocol::socket probe(io);
  std::error_code ec;
  probe.open(asio::local::stream_protocol(), ec);
  // Non-blocking: a live server with a full backlog would hold a blocking connect; it answers
  // "try again" instead, which, like any answer but a refusal, means the file is in use.
  if (!ec) probe.non_blocking(true, ec);
  if (!ec) probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  return ec == asio::error::connection_refused;
}

}  // namespace

Result<Endpoint> resolve(std::string_view network, std::string_view address) {
  if (network == "unix") {
    // sun_path holds the path and its terminating zero.
    if (address.empty() || address.size() >= sizeof(sockaddr_un::sun_path)) return errc::bad_address;
    return Endpoint(asio::local::stream_protocol::endpoint(address));
  }
  if (network != "tcp") return errc::bad_address;
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return errc::bad_address;
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  const auto port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5) return errc::bad_address;
  for (char c : port_text) {
    if (c < '0' || c > '9') return errc::bad_address;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  std::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec || port > 65535) return errc::bad_address;
  return Endpoint(asio::ip::tcp::endpoint(ip, static_cast<unsigned short>(port)));
}

std::string unix_path(const Endpoint& endpoint) {
  if (endpoint.protocol().family() != AF_UNIX) return {};
  asio::local::stream_protocol::endpoint local;
  if (endpoint.size() > local.capacity()) return {};
  std::memcpy(local.data(), endpoint.data(), endpoint.size());
  local.resize(endpoint.size());
  return local.path();
}

std::string to_string(const Endpoint& endpoint) {
  if (endpoint.protocol().family() == AF_UNIX) return unix_path(endpoint);
  asio::ip::tcp::endpoint tcp;
  if (endpoint.size() > tcp.capacity()) return "?";
  std::memcpy(tcp.data(), endpoint.data(), endpoint.size());
  tcp.resize(endpoint.size());
  const auto ip = tcp.address();
  // Built with append: GCC 12 at -O3 warns falsely (stringop-overflow) about the operator+ chain.
  std::string text = ip.is_v6() ? "[" : "";
  text.append(ip.to_string()).append(ip.is_v6() ? "]:" : ":").append(std::to_string(tcp.port()));
  return text;
}

Result<Acceptor> listen(const asio::any_io_executor& executor, std::string_view network, std::string_view address) {
  auto endpoint = resolve(network, address);
  if (!endpoint) return endpoint.error();
  if (const auto path = unix_path(*endpoint); !path.empty() && is_stale_socket(path)) ::unlink(path.c_str());
  Acceptor acceptor(executor);
  std::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec && endpoint->protocol().family() != AF_UNIX) acceptor.set_option(Acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  return acceptor;
}

}  // namespace geerpc
