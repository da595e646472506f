// Unicode canonical normalization (NFC and NFD) of UTF-8 text, per UAX #15: full canonical
// decomposition (with algorithmic Hangul), canonical ordering by combining class, then canonical
// composition for NFC. The data comes from unicode_tables.cpp; input must be valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace strata::unicode {

std::string nfc(std::string_view text);
std::string nfd(std::string_view text);

}  // namespace strata::unicode
