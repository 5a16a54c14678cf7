// A Protocol Buffers codec, added from outside the framework through register_codec: the header
// goes as a geerpc.pb.Header message, a body as the serialized argument or reply message of the
// method the header names. In memory a body stays a geerpc::Body (JSON), so the codec transcodes:
// it finds the message type in the services of the .proto files given to add_services, and
// converts between the message and the JSON value by reflection. The same conversion is the
// JSON mapping of every generated message type, so a method `Sum(const SumArgs&, SumReply*)`
// registers like any other and answers over JSON and MessagePack as well.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <type_traits>

#include "geerpc/codec.hpp"
#include "geerpc/error.hpp"

namespace geerpc::protobuf {

inline const Type protobuf_type = "application/protobuf";

// Puts the codec into the constructor map. Call it before any server or client runs, as
// register_codec says.
[[nodiscard]] Error register_protobuf_codec();

// Makes the services of a .proto file known to the codec under their short names: `service Foo`
// of package geerpc answers "Foo.Sum". A call to a method no added service declares cannot be
// encoded (errc::bad_body). Call it before serving, like register_protobuf_codec; a second file
// with a service of the same short name is refused (errc::duplicate_service).
[[nodiscard]] Error add_services(const google::protobuf::FileDescriptor* file);

// The message as a JSON object: every field under its .proto name, defaults included, so that
// day 3's argument checks see the whole shape. Integers are numbers (64-bit ones too), enums their
// value names, bytes base64 text, maps objects with text keys; an unset message field or proto3
// `optional` is null, an unset oneof member is left out.
Body to_body(const google::protobuf::Message& message);

// Fills `message` (cleared first) from a JSON object as to_body writes it; null is the empty
// message. Enums are read from a name or a number, bytes from base64 text or binary (MessagePack's
// bin). Throws std::invalid_argument naming the field for anything else: a field the message does
// not have, a wrong type, a number its field cannot hold.
void from_body(const Body& body, google::protobuf::Message& message);

}  // namespace geerpc::protobuf

// The JSON mapping of every generated message type, found by nlohmann wherever this header is
// included: Body(reply) and body.get_to(args) go through to_body and from_body.
template <class T>
struct nlohmann::adl_serializer<T, std::enable_if_t<std::is_base_of_v<google::protobuf::Message, T>>> {
  static void to_json(nlohmann::json& j, const T& message) { j = geerpc::protobuf::to_body(message); }
  static void from_json(const nlohmann::json& j, T& message) { geerpc::protobuf::from_body(j, message); }
};
