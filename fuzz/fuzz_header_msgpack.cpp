// A header frame in the MessagePack codec, decoded as the server decodes it: the bytes are the peer's
// choice, so decoding must end in a value or errc::bad_header, and consume the frame whole.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  geerpc::fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geerpc::fuzz::decode_one_frame(geerpc::msgpack_type, /*header=*/true, data, size);
  return 0;
}
