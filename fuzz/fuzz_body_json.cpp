// A body frame in the JSON codec, decoded as the server decodes it: the bytes are the peer's
// choice, so decoding must end in a value or errc::bad_body, and consume the frame whole.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  geerpc::fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geerpc::fuzz::decode_one_frame(geerpc::json_type, /*header=*/false, data, size);
  return 0;
}
