#include "data/DatasetSplitter.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace tb {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): a full-avalanche finalizer, so nearby seeds and
// similar FNV values give unrelated keys.
uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

} // namespace

uint64_t DatasetSplitter::recordHash(const std::string& recordKey, uint64_t seed)
{
    uint64_t h = 0xCBF29CE484222325ull; // FNV-1a 64: stable across platforms, unlike std::hash
    for (unsigned char c : recordKey) {
        h ^= c;
        h *= 0x100000001B3ull;
    }
    return mix(h ^ mix(seed));
}

size_t DatasetSplitter::validationCount(size_t records, double fraction)
{
    if (!(fraction >= 0.0 && fraction < 1.0))
        throw std::invalid_argument("validation fraction must be in [0, 1), got " + std::to_string(fraction));
    if (fraction == 0.0 || records < 2)
        return 0;
    const auto count = size_t(std::llround(fraction * double(records)));
    return std::clamp<size_t>(count, 1, records - 1);
}

std::vector<bool> DatasetSplitter::validationFlags(const std::vector<std::string>& recordKeys, double fraction, uint64_t seed)
{
    const size_t count = validationCount(recordKeys.size(), fraction);
    std::vector<uint64_t> hashes(recordKeys.size());
    for (size_t i = 0; i < recordKeys.size(); ++i)
        hashes[i] = recordHash(recordKeys[i], seed);
    std::vector<size_t> order(recordKeys.size());
    std::iota(order.begin(), order.end(), size_t(0));
    // Ties (duplicate records) break by file position so the result is still deterministic.
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return hashes[a] != hashes[b] ? hashes[a] < hashes[b] : a < b; });
    std::vector<bool> flags(recordKeys.size(), false);
    for (size_t i = 0; i < count; ++i)
        flags[order[i]] = true;
    return flags;
}

} // namespace tb
