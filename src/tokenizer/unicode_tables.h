// Unicode data for canonical normalization, generated into unicode_tables.cpp by gen_unicode_tables.py.
// Both tables are sorted by code point. Hangul syllables are not listed (they are algorithmic).
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::unicode {

struct CanonicalDecomposition {
  uint32_t code_point;
  uint32_t first;
  uint32_t second;    // 0 for a singleton decomposition
  uint32_t composes;  // 1 when NFC recomposes first+second into code_point (a primary composite)
};

struct CombiningClassRange {
  uint32_t first;
  uint32_t last;
  uint32_t combining_class;
};

extern const CanonicalDecomposition kCanonicalDecompositions[];
extern const size_t kNumCanonicalDecompositions;
extern const CombiningClassRange kCombiningClasses[];
extern const size_t kNumCombiningClasses;

}  // namespace strata::unicode
