// Internal helpers shared by the asynchronous and blocking transports: frame
// header encoding, the handshake's messages, address parsing. Not part of the
// public interface.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/auth.h"
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

/// Largest frame body accepted before the peer has authenticated: the
/// handshake's messages are a few dozen bytes and a program name.
constexpr uint32_t kMaxHelloBody = 4096;

struct ParsedAddress {
  bool is_unix = false;
  std::string path;  // unix
  std::string host;  // tcp
  int port = 0;      // tcp
};
StatusOr<ParsedAddress> ParseAddress(const std::string &address);

// The handshake (base/auth.h), shared by Connection and BlockingConnection.

/// Client: the serialized Hello for this process, carrying `client_nonce`.
std::string MakeHelloBody(const auth::Nonce &client_nonce);
/// Client: checks the server's Challenge (its proof of the token); returns
/// the serialized HelloProof to send, or Unauthenticated.
StatusOr<std::string> AnswerChallenge(std::string_view challenge_body, const std::string &token,
                                      const auth::Nonce &client_nonce, const std::string &peer);
/// Server: parses a Hello, picks a nonce, and returns the serialized
/// Challenge; `*who` names the client for logs (bounded, printable).
StatusOr<std::string> MakeChallenge(std::string_view hello_body, const std::string &token,
                                    auth::Nonce *client_nonce, auth::Nonce *server_nonce, std::string *who);
/// Server: true if a HelloProof proves the client holds `token`.
bool ProofValid(std::string_view proof_body, const std::string &token, const auth::Nonce &client_nonce,
                const auth::Nonce &server_nonce);

}  // namespace lumen::rpc::detail
