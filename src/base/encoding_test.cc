// Unit tests for the byte-string helpers: hex round trips and rejects what
// is not hex; ConstantTimeEquals is plain equality for every length pairing.
#include "base/encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace lumen {
namespace {

TEST(EncodingTest, ToHexIsLowerCaseTwoDigitsAByte) {
  EXPECT_EQ(ToHex(""), "");
  EXPECT_EQ(ToHex(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
}

TEST(EncodingTest, FromHexInvertsToHexForEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  auto back = FromHex(ToHex(all));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
  EXPECT_EQ(FromHex("ABcdEF"), std::string("\xab\xcd\xef"));
  EXPECT_EQ(FromHex(""), std::string());
}

TEST(EncodingTest, FromHexRejectsOddLengthsAndNonDigits) {
  EXPECT_FALSE(FromHex("abc").has_value());
  EXPECT_FALSE(FromHex("0g").has_value());
  EXPECT_FALSE(FromHex("-1").has_value());
  EXPECT_FALSE(FromHex(" 1").has_value());
  EXPECT_FALSE(FromHex("1 ").has_value());
}

TEST(EncodingTest, ConstantTimeEqualsIsEquality) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token-123", "token-123"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token-124"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "Token-123"));
  // A prefix, or the secret with anything after it, is not the secret.
  EXPECT_FALSE(ConstantTimeEquals("token", "token-123"));
  EXPECT_FALSE(ConstantTimeEquals("token-123", "token"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  // A longer string that is zero past the shorter one's end still differs.
  EXPECT_FALSE(ConstantTimeEquals(std::string("ab"), std::string("ab\0", 3)));
  // Bytes with the top bit set compare as bytes.
  EXPECT_TRUE(ConstantTimeEquals("\xff\x80", "\xff\x80"));
  EXPECT_FALSE(ConstantTimeEquals("\xff\x80", "\x7f\x80"));
}

}  // namespace
}  // namespace lumen
