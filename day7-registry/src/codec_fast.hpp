// Makes encoding and decoding fast: hand-written readers and writers for the shapes nearly every
// message has. A first reading may skip this file: each function gives exactly the bytes (or the
// value) nlohmann/json would, or declines (returns false) and leaves the job to nlohmann.
#pragma once

#include <string>
#include <string_view>

#include "geerpc/codec.hpp"
#include "geerpc/conn.hpp"

namespace geerpc::fast {

// JSON. The header as dump() writes it, key order and all; a string body of plain bytes
// (printable ASCII without '"' or '\\', which needs no escaping) written and read in bulk.
bool json_encode_header(const Header& header, std::string& out);
bool json_decode_header(std::string_view bytes, Header& header);
bool json_encode_string(const Body& body, std::string& out);
bool json_decode_string(std::string_view bytes, Body& body);

// MessagePack. The header as to_msgpack writes it; a whole body read with strings and binaries
// copied in bulk (nlohmann appends them a byte at a time).
bool msgpack_encode_header(const Header& header, std::string& out);
bool msgpack_decode_header(std::string_view bytes, Header& header);
bool msgpack_decode(std::string_view bytes, Body& body);

// A string body over 64 KiB (a blob) leaves from its own buffer: the frame's length and the
// format's string head go into message.bytes, the string is moved into message.blob, and JSON's
// closing quote into message.blob_tail. False, with nothing written, for other bodies.
bool json_move_blob(Body& body, Message& message);
bool msgpack_move_blob(Body& body, Message& message);

// Room for the header frame and a body that is not a blob: the common message costs one
// allocation, and a mid-sized string body is not re-copied each time the buffer doubles.
void reserve(std::string& out, const Header& header, const Body& body);

// The nesting check. Bodies nested deeper than max_nesting are refused: nlohmann copies and
// serialises values recursively, so a peer's 100,000 nested arrays would overflow the stack.
// For json::parse: a callback that throws past the limit (parsing itself is iterative).
bool refuse_deep_json(int depth, nlohmann::json::parse_event_t event, nlohmann::json& value);
// For from_msgpack, which recurses once per level: throws std::invalid_argument when `bytes`
// nest too deep, without building anything.
void check_msgpack_nesting(std::string_view bytes);

}  // namespace geerpc::fast
