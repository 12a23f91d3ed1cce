// Byte-string helpers shared by every component: hex encoding of ids and
// tokens, and the comparison of secrets.
//
// Threading: pure functions of their arguments; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lumen {

/// Lower-case hex, two digits a byte.
std::string ToHex(std::string_view bin);

/// The bytes `hex` spells (either case); nullopt for an odd length or a
/// character that is not a hex digit.
std::optional<std::string> FromHex(std::string_view hex);

/// Whether `a` and `b` are equal, in a time that depends only on their
/// lengths, never on where they first differ: for comparing a secret (the
/// cluster token, a proof derived from it) with what a peer sent, so that
/// timing the answer cannot reveal the secret byte by byte.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace lumen
