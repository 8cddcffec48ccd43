// JsonText::Quote: what the control files show of names and messages.
#include "fuse/control/json_text.h"

#include <gtest/gtest.h>

namespace sopfs {
namespace {

TEST(ControlJsonText, QuoteKeepsUtf8EscapesControlsAndShowsInvalidBytesApart) {
  EXPECT_EQ(JsonText::Quote("plain"), "\"plain\"");
  EXPECT_EQ(JsonText::Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonText::Quote("line\nnext\t\x7f"), "\"line\\u000anext\\u0009\\u007f\"");
  // UTF-8 names as written: 2, 3 and 4 byte sequences.
  EXPECT_EQ(JsonText::Quote("\xc3\xbc"
                            "n\xc3\xaf"),
            "\"\xc3\xbc"
            "n\xc3\xaf\"");
  EXPECT_EQ(JsonText::Quote("\xe2\x82\xac \xf0\x9f\x8e\xac"), "\"\xe2\x82\xac \xf0\x9f\x8e\xac\"");
  // Bytes that are not UTF-8 are shown as \xNN, not as the Latin-1 letters "ÿþ".
  EXPECT_EQ(JsonText::Quote("\xff\xfe"), "\"\\\\xff\\\\xfe\"");
  EXPECT_NE(JsonText::Quote("\xff\xfe"), JsonText::Quote("\xc3\xbf\xc3\xbe"));
  // Truncated, overlong, surrogate and too-large sequences are invalid byte by byte.
  EXPECT_EQ(JsonText::Quote("\xc3"), "\"\\\\xc3\"");
  EXPECT_EQ(JsonText::Quote("\xc0\xaf"), "\"\\\\xc0\\\\xaf\"");
  EXPECT_EQ(JsonText::Quote("\xed\xa0\x80"), "\"\\\\xed\\\\xa0\\\\x80\"");
  EXPECT_EQ(JsonText::Quote("\xf4\x90\x80\x80"), "\"\\\\xf4\\\\x90\\\\x80\\\\x80\"");
  EXPECT_EQ(JsonText::Quote("\xe2\x82"), "\"\\\\xe2\\\\x82\"");
}

}  // namespace
}  // namespace sopfs
