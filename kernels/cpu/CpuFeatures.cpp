#include "cpu/CpuFeatures.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace tbk {

namespace {

CpuFeatures detect()
{
    CpuFeatures f;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.avx512f = __builtin_cpu_supports("avx512f");
    f.avx512bw = __builtin_cpu_supports("avx512bw");
    // Leaf 7, sub-leaf 0: EDX bit 22 = AMX-BF16, bit 24 = AMX-TILE. Leaf 7 sub-leaf 1: EAX bit 5 = AVX512_BF16.
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
        f.amx = ((d >> 22) & 1u) && ((d >> 24) & 1u);
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
        f.avx512bf16 = (a >> 5) & 1u;
#endif
    return f;
}

} // namespace

const CpuFeatures& cpuFeatures()
{
    static const CpuFeatures features = detect();
    return features;
}

const char* cpuFeatureSummary()
{
    const CpuFeatures& f = cpuFeatures();
    if (f.avx512f && f.amx)
        return "avx512+amx";
    if (f.avx512f)
        return "avx512";
    if (f.avx2)
        return "avx2";
    return "scalar";
}

} // namespace tbk
