// The train/validation split when no validation file is given. Each record gets a 64-bit key
// from (seed, the record's own bytes); the records with the smallest keys form validation.
// So the split depends only on the seed and the records' contents: reordering the file,
// or editing other records, does not move a record across (beyond the records at the
// boundary when the count changes), and exact duplicates land on the same side unless they
// straddle the boundary. The validation count is round(fraction * n), at least 1 when
// fraction > 0 and n >= 2, at most n - 1 so training is never empty.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

class DatasetSplitter {
public:
    // One flag per key (true = validation). Throws std::invalid_argument unless 0 <= fraction < 1.
    static std::vector<bool> validationFlags(const std::vector<std::string>& recordKeys, double fraction, uint64_t seed);

    static size_t validationCount(size_t records, double fraction);
    static uint64_t recordHash(const std::string& recordKey, uint64_t seed);
};

} // namespace tb
