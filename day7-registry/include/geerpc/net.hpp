// Addresses and listeners: what Go's net package does for GeeRPC. A first reading may skim it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/basic_socket_acceptor.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <string>
#include <string_view>

#include "geerpc/error.hpp"

namespace geerpc {

// One socket type for every transport (TCP and Unix sockets), so nothing above cares.
using Socket = asio::generic::stream_protocol::socket;
using Endpoint = asio::generic::stream_protocol::endpoint;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// Go's (network, address) pair: "tcp" with "host:port", where host is an IP address or
// "localhost" and an empty host means every interface; "unix" with a socket file's path.
// errc::bad_address otherwise.
[[nodiscard]] Result<Endpoint> resolve(std::string_view network, std::string_view address);

// The "host:port" text of a TCP endpoint, the path of a Unix one.
std::string to_string(const Endpoint& endpoint);

// The socket file of a Unix endpoint; empty for any other.
std::string unix_path(const Endpoint& endpoint);

// Go's net.Listen: a listener on (network, address); "127.0.0.1:0" picks a free port. A Unix
// socket file left behind by a process that is gone is replaced; a live one, or a file that is
// not a socket, is left alone (the bind fails: address in use).
[[nodiscard]] Result<Acceptor> listen(const asio::any_io_executor& executor, std::string_view network,
                                      std::string_view address);

}  // namespace geerpc
