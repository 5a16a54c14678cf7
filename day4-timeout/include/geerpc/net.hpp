// Addresses and listeners: what Go's net package does for GeeRPC. A first reading may skim it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/basic_socket_acceptor.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <string>
#include <string_view>

#include "geerpc/error.hpp"

namespace geerpc {

// One socket type for every transport (TCP now, Unix sockets later), so nothing above cares.
using Socket = asio::generic::stream_protocol::socket;
using Endpoint = asio::generic::stream_protocol::endpoint;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// Go's (network, address) pair: "tcp" with "host:port", where host is an IP address or
// "localhost" and an empty host means every interface. errc::bad_address otherwise.
[[nodiscard]] Result<Endpoint> resolve(std::string_view network, std::string_view address);

// The "host:port" text of a TCP endpoint.
std::string to_string(const Endpoint& endpoint);

// Go's net.Listen: a listener on (network, address); "127.0.0.1:0" picks a free port.
[[nodiscard]] Result<Acceptor> listen(const asio::any_io_executor& executor, std::string_view network,
                                      std::string_view address);

}  // namespace geerpc
