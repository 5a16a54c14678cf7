#include "geerpc/error.hpp"

namespace geerpc {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "geerpc"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::bad_option: return "invalid option line";
      case errc::bad_magic: return "invalid magic number";
      case errc::unknown_codec: return "invalid codec type";
      case errc::frame_too_large: return "frame exceeds the maximum size";
      case errc::bad_header: return "cannot decode header";
      case errc::bad_body: return "cannot decode body";
      case errc::bad_address: return "unsupported network or malformed address";
      case errc::truncated_frame: return "connection closed in the middle of a frame";
      case errc::frame_timeout: return "timed out waiting for the rest of a frame";
      case errc::shutdown: return "connection is shut down";
      case errc::server_error: return "the server reported an error";
      case errc::ill_formed_method: return "service/method request ill-formed";
      case errc::unknown_service: return "can't find service";
      case errc::unknown_method: return "can't find method";
      case errc::duplicate_service: return "service already defined";
      case errc::method_error: return "the method reported an error";
      case errc::method_exception: return "the method threw an exception";
      case errc::connect_timeout: return "connect timeout";
      case errc::bad_handshake: return "the server did not accept the option";
      case errc::call_timeout: return "deadline exceeded";
      case errc::cancelled: return "call cancelled";
      case errc::bad_http: return "malformed HTTP message";
      case errc::http_too_large: return "HTTP message exceeds the size limit";
      case errc::http_timeout: return "HTTP exchange timed out";
      case errc::bad_http_status: return "unexpected HTTP response";
      case errc::no_servers: return "no available servers";
      case errc::etcd_error: return "etcd answered with an error";
      case errc::lease_lost: return "the etcd lease is gone";
    }
    return "unknown geerpc error";
  }
};

}  // namespace

const std::error_category& geerpc_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace geerpc
