// Internal helpers shared by the asynchronous and blocking transports: frame
// header encoding, token comparison, address parsing. Not part of the public
// interface.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/status.h"
#include "rpc/rpc.h"

namespace lumen::rpc::detail {

struct FrameHeader {
  uint32_t body_len = 0;
  uint16_t type = 0;
  uint16_t method = 0;
  uint64_t call_id = 0;
};

inline void EncodeHeader(char *out, uint32_t body_len, uint16_t type, uint16_t method, uint64_t call_id) {
  auto *p = reinterpret_cast<unsigned char *>(out);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(body_len >> (8 * i));
  for (int i = 0; i < 2; ++i) p[4 + i] = static_cast<unsigned char>(type >> (8 * i));
  for (int i = 0; i < 2; ++i) p[6 + i] = static_cast<unsigned char>(method >> (8 * i));
  for (int i = 0; i < 8; ++i) p[8 + i] = static_cast<unsigned char>(call_id >> (8 * i));
}

inline FrameHeader DecodeHeader(const char *in) {
  const auto *p = reinterpret_cast<const unsigned char *>(in);
  FrameHeader h;
  for (int i = 0; i < 4; ++i) h.body_len |= static_cast<uint32_t>(p[i]) << (8 * i);
  for (int i = 0; i < 2; ++i) h.type |= static_cast<uint16_t>(p[4 + i] << (8 * i));
  for (int i = 0; i < 2; ++i) h.method |= static_cast<uint16_t>(p[6 + i] << (8 * i));
  for (int i = 0; i < 8; ++i) h.call_id |= static_cast<uint64_t>(p[8 + i]) << (8 * i);
  return h;
}

inline bool ValidFrameType(uint16_t t) {
  return (t >= static_cast<uint16_t>(FrameType::kHello) && t <= static_cast<uint16_t>(FrameType::kOneway)) ||
         t == static_cast<uint16_t>(FrameType::kPing) || t == static_cast<uint16_t>(FrameType::kPong);
}

/// Largest hello body accepted before the peer has authenticated.
constexpr uint32_t kMaxHelloBody = 64 * 1024;

struct ParsedAddress {
  bool is_unix = false;
  std::string path;  // unix
  std::string host;  // tcp
  int port = 0;      // tcp
};
StatusOr<ParsedAddress> ParseAddress(const std::string &address);

/// Serialized lumen.rpc.Hello for this process.
std::string MakeHelloBody(const std::string &token);

}  // namespace lumen::rpc::detail
