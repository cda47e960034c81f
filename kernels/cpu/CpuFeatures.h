// Which SIMD instruction sets this CPU offers, read once at run time (CPUID through the
// compiler's builtins), so kernels can pick AVX-512, AVX2 or the scalar path.
#pragma once

namespace tbk {

struct CpuFeatures {
    bool avx2 = false;
    bool fma = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512bf16 = false;
    bool amx = false; // AMX tiles with bf16 (what oneDNN uses for bf16 matmul)
};

const CpuFeatures& cpuFeatures();
// "avx512+amx", "avx2", "scalar", ...: for logs and `inspect`.
const char* cpuFeatureSummary();

} // namespace tbk
