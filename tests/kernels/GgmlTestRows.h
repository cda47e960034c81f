// Input rows for the ggml quantization tests (tst_ggmlquant, tst_ggmlquant_parity): random
// weights and rows built to hit the quantizers' edge cases. Each adversarial row has 256
// elements (one k-quant super-block, eight Q4_0/Q8_0 blocks).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ggmltest {

inline constexpr int kRowElements = 256;

// First differing byte, or -1 (0 when either side failed and came back empty).
inline int64_t firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b)
{
    if (a.empty() || a.size() != b.size())
        return 0;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i])
            return int64_t(i);
    return -1;
}

inline std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 0.02f)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x(n);
    for (float& v : x)
        v = dist(rng);
    return x;
}

inline std::vector<float> studentT(size_t n, uint32_t seed, float dof = 3.0f, float sigma = 0.02f)
{
    std::mt19937 rng(seed);
    std::student_t_distribution<float> dist(dof);
    std::vector<float> x(n);
    for (float& v : x)
        v = sigma * dist(rng);
    return x;
}

// Magnitudes log-uniform in [lo, hi], random signs, some exact zeros.
inline std::vector<float> logUniform(size_t n, uint32_t seed, double lo, double hi)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> e(std::log(lo), std::log(hi));
    std::uniform_int_distribution<int> coin(0, 15);
    std::vector<float> x(n);
    for (float& v : x) {
        const int c = coin(rng);
        v = c == 0 ? 0.0f : float((c & 1 ? -1.0 : 1.0) * std::exp(e(rng)));
    }
    return x;
}

inline float floatFromBits(uint32_t w)
{
    float f;
    std::memcpy(&f, &w, 4);
    return f;
}

struct NamedRow {
    std::string name;
    std::vector<float> x; // kRowElements values
};

// Finite rows that stress scale selection, rounding ties, fp16 under/overflow of the scales
// and the all-zero shortcuts.
inline std::vector<NamedRow> adversarialRows()
{
    const int n = kRowElements;
    std::vector<NamedRow> rows;
    auto add = [&](const std::string& name, auto valueAt) {
        NamedRow r{name, std::vector<float>(n)};
        for (int i = 0; i < n; ++i)
            r.x[i] = valueAt(i);
        rows.push_back(std::move(r));
    };
    const std::vector<float> g = gaussian(n, 7);
    add("zeros", [](int) { return 0.0f; });
    add("negative zeros", [](int) { return -0.0f; });
    add("constant positive", [](int) { return 0.5f; });
    add("constant negative", [](int) { return -3.25f; });
    add("constant per 32", [](int i) { return 0.01f * float(i / 32 - 3); });
    add("constant per 16", [](int i) { return 0.1f * float((i / 16) % 5); });
    add("huge outlier", [&](int i) { return i == 17 ? 1.0e4f : g[size_t(i)]; });
    add("negative outlier", [&](int i) { return i == 200 ? -50.0f : g[size_t(i)]; });
    add("one nonzero per 32", [](int i) { return i % 32 == 5 ? 0.25f * float(i / 32 + 1) : 0.0f; });
    add("one nonzero per 16", [](int i) { return i % 16 == 3 ? -0.125f * float(i / 16 + 1) : 0.0f; });
    add("tiny 1e-30", [&](int i) { return 1.0e-30f * g[size_t(i)] / 0.02f; });
    add("near group eps 1e-15", [&](int i) { return 1.0e-15f * g[size_t(i)] / 0.02f; });
    add("subnormal", [&](int i) { return floatFromBits(uint32_t(1 + (i * 7919) % 0x7FFFFF)) * (i % 2 ? -1.f : 1.f); });
    add("subnormal and zero", [](int i) { return i % 3 ? 0.0f : floatFromBits(uint32_t(i * 1000 + 1)); });
    add("smallest normal", [](int i) { return (i % 5 - 2) * std::numeric_limits<float>::min(); });
    add("fp16 subnormal scale", [&](int i) { return 1.0e-6f * g[size_t(i)] / 0.02f; });
    add("fp16 overflow of q8_0 scale", [&](int i) { return 5.0e8f * g[size_t(i)]; });
    add("large 1e30", [&](int i) { return 1.0e30f * g[size_t(i)]; });
    add("near float max", [](int i) { return (i % 2 ? -3.0e38f : 3.0e38f) * float(1 + i % 3) / 3.0f; });
    add("ramp", [](int i) { return float(i) / 255.0f - 0.5f; });
    add("integers -8..7", [](int i) { return float(i % 16 - 8); });
    add("half integers", [](int i) { return 0.5f * float(i % 33 - 16); });
    // amax 127 per 32 makes Q8_0's scale exactly 1: every other value is a rounding tie.
    add("q8_0 ties", [](int i) { return i % 32 == 0 ? 127.0f : float(i % 32 - 16) + (i % 3 ? 0.5f : -0.5f); });
    add("q8_0 near ties", [](int i) {
        return i % 32 == 0 ? -127.0f : std::nextafter(float(i % 32 - 16) + 0.5f, i % 2 ? 100.0f : -100.0f);
    });
    add("all positive", [&](int i) { return std::fabs(g[size_t(i)]) + 0.001f; });
    add("all negative", [&](int i) { return -std::fabs(g[size_t(i)]) - 0.001f; });
    add("equal magnitude, alternating sign", [](int i) { return i % 2 ? -0.75f : 0.75f; });
    add("heavy tails", [&](int i) { return studentT(n, 11, 1.5f)[size_t(i)]; });
    add("wide range", [&](int i) { return logUniform(n, 13, 1e-40, 6e4)[size_t(i)]; });
    return rows;
}

// n values (a multiple of 16) where every run of 16 takes its own shape: normal values of a
// scale drawn from 1e-30 to 1e30, a constant, zeros of either sign, a single nonzero, small
// integers and half-integers (rounding ties), subnormals, all of one sign; with
// `nonFinite`, about one run in 8 also gets a NaN or an infinity. For fuzzing the scale
// searches' per-lane branches (flat, all-zero, fitted min clamped, no candidate better).
inline std::vector<float> mixedRuns(size_t n, uint32_t seed, bool nonFinite = false)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> shape(0, 9), pos(0, 15), coin(0, 1), eighth(0, 7);
    std::uniform_real_distribution<double> logScale(std::log(1e-30), std::log(1e30));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(n);
    for (size_t run = 0; run + 16 <= n; run += 16) {
        float* r = x.data() + run;
        const float scale = float(std::exp(logScale(rng)));
        const float sign = coin(rng) ? 1.0f : -1.0f;
        switch (shape(rng)) {
        case 0: for (int i = 0; i < 16; ++i) r[i] = scale * normal(rng); break;
        case 1: for (int i = 0; i < 16; ++i) r[i] = sign * scale; break;
        case 2: for (int i = 0; i < 16; ++i) r[i] = coin(rng) ? 0.0f : -0.0f; break;
        case 3: for (int i = 0; i < 16; ++i) r[i] = 0.0f; r[pos(rng)] = sign * scale; break;
        case 4: for (int i = 0; i < 16; ++i) r[i] = float(pos(rng) - 8); break;
        case 5: for (int i = 0; i < 16; ++i) r[i] = 0.5f * float(pos(rng) - 8); break;
        case 6: for (int i = 0; i < 16; ++i) r[i] = floatFromBits(uint32_t(rng() & 0x807FFFFFu)); break;
        case 7: for (int i = 0; i < 16; ++i) r[i] = sign * std::fabs(scale * normal(rng)); break;
        case 8: for (int i = 0; i < 16; ++i) r[i] = scale * float(pos(rng) % 3 - 1); break;
        default: for (int i = 0; i < 16; ++i) r[i] = 0.02f * normal(rng); break;
        }
        if (nonFinite && eighth(rng) == 0) {
            const float specials[3] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                       -std::numeric_limits<float>::infinity()};
            r[pos(rng)] = specials[pos(rng) % 3];
        }
    }
    return x;
}

// Rows holding NaN or inf: what ggml writes for them is whatever its arithmetic gives.
inline std::vector<NamedRow> nonFiniteRows()
{
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<NamedRow> rows;
    const std::vector<float> g = gaussian(kRowElements, 5);
    auto with = [&](const std::string& name, int at, float v) {
        NamedRow r{name, g};
        r.x[size_t(at)] = v;
        rows.push_back(std::move(r));
    };
    with("NaN first", 0, nan);
    with("NaN middle", 77, nan);
    with("+inf", 40, inf);
    with("-inf", 129, -inf);
    return rows;
}

} // namespace ggmltest
