#include "geerpc/net.hpp"

#include <asio/ip/tcp.hpp>
#include <cstring>

namespace geerpc {

Result<Endpoint> resolve(std::string_view network, std::string_view address) {
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

std::string to_string(const Endpoint& endpoint) {
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
  Acceptor acceptor(executor);
  std::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(Acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  return acceptor;
}

}  // namespace geerpc
