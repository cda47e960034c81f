// Dispatch for CausalAttention.h: argument checks, ISA choice, and the task -> tile mapping
// (tile p paired with tile n-1-p, so every task of a pass does about the same causal work; the
// query passes take attentionHeadsPerTask query heads of one KV group per task).
#include "cpu/CausalAttention.h"

#include <algorithm>
#include <thread>

#include "cpu/CausalAttentionKernels.h"
#include "cpu/CpuFeatures.h"

namespace tbk {

using detail::kAttentionTile;

const char* attentionIsaName(AttentionIsa isa)
{
    switch (isa) {
    case AttentionIsa::Auto: return "auto";
    case AttentionIsa::Scalar: return "scalar";
    case AttentionIsa::Avx512: return "avx512";
    case AttentionIsa::Avx512Bf16: return "avx512bf16";
    }
    return "unknown";
}

bool attentionIsaSupported(AttentionIsa isa)
{
    const CpuFeatures& f = cpuFeatures();
    const bool avx512 = f.avx512f && f.avx512bw && f.fma; // VL comes with BW on every such CPU
    switch (isa) {
    case AttentionIsa::Auto:
    case AttentionIsa::Scalar: return true;
    case AttentionIsa::Avx512: return detail::attentionAvx512Compiled() && avx512;
    case AttentionIsa::Avx512Bf16: return detail::attentionAvx512Bf16Compiled() && avx512 && f.avx512bf16;
    }
    return false;
}

AttentionIsa attentionBestIsa()
{
    if (attentionIsaSupported(AttentionIsa::Avx512Bf16))
        return AttentionIsa::Avx512Bf16;
    if (attentionIsaSupported(AttentionIsa::Avx512))
        return AttentionIsa::Avx512;
    return AttentionIsa::Scalar;
}

KernelStatus causalAttentionCheck(const AttentionArgs& a, AttentionPass pass)
{
    const AttentionShape& s = a.shape;
    if (s.batch < 0 || s.queryLen < 0 || s.keyLen < s.queryLen || s.heads < 1 || s.kvHeads < 1 ||
        s.heads % s.kvHeads != 0 || s.headDim < 1 || s.window < 0)
        return KernelStatus::BadSize;
    if (a.isa != AttentionIsa::Auto && !attentionIsaSupported(a.isa))
        return KernelStatus::IsaUnavailable;
    if (s.batch == 0 || s.queryLen == 0)
        return KernelStatus::Ok;
    if (!a.q || !a.k || !a.v || !a.o || !a.lse)
        return KernelStatus::NullPointer;
    if (pass != AttentionPass::Forward && !a.dO)
        return KernelStatus::NullPointer;
    if (pass == AttentionPass::BackwardQ && !a.dQ)
        return KernelStatus::NullPointer;
    if (pass == AttentionPass::BackwardKv && (!a.dK || !a.dV))
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

namespace {

int64_t tileCount(int64_t rows) { return (rows + kAttentionTile - 1) / kAttentionTile; }
int64_t pairCount(int64_t rows) { return (tileCount(rows) + 1) / 2; }

AttentionIsa resolve(AttentionIsa isa) { return isa == AttentionIsa::Auto ? attentionBestIsa() : isa; }

// Runs key tiles p and n-1-p of each BackwardKv task, tasks over (batch, kv head, pair).
void runKeyPairs(detail::AttentionKeyTileKernel kernel, const AttentionArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    const int64_t rows = a.shape.keyLen, heads = a.shape.kvHeads;
    const int64_t tiles = tileCount(rows), pairs = pairCount(rows);
    for (int64_t t = taskBegin; t < taskEnd; ++t) {
        const int64_t p = t % pairs, head = (t / pairs) % heads, b = t / pairs / heads;
        const int64_t first = p, last = tiles - 1 - p;
        kernel(a, b, head, first * kAttentionTile, std::min(rows, (first + 1) * kAttentionTile));
        if (last != first)
            kernel(a, b, head, last * kAttentionTile, std::min(rows, (last + 1) * kAttentionTile));
    }
}

// Runs query tiles p and n-1-p of each Forward / BackwardQ task, tasks over (batch, block of
// attentionHeadsPerTask query heads, pair); the heads of a block share a KV head.
void runQueryPairs(detail::AttentionQueryTileKernel kernel, const AttentionArgs& a, int64_t taskBegin,
                   int64_t taskEnd)
{
    const int64_t rows = a.shape.queryLen, nh = detail::attentionHeadsPerTask(a.shape);
    const int64_t blocks = a.shape.heads / nh, tiles = tileCount(rows), pairs = pairCount(rows);
    for (int64_t t = taskBegin; t < taskEnd; ++t) {
        const int64_t p = t % pairs, h0 = (t / pairs) % blocks * nh, b = t / pairs / blocks;
        const int64_t first = p, last = tiles - 1 - p;
        kernel(a, b, h0, nh, first * kAttentionTile, std::min(rows, (first + 1) * kAttentionTile));
        if (last != first)
            kernel(a, b, h0, nh, last * kAttentionTile, std::min(rows, (last + 1) * kAttentionTile));
    }
}

// The scalar reference goes one head at a time.
void forwardScalarHeads(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    for (int64_t h = h0; h < h0 + nh; ++h)
        detail::attentionForwardScalar(a, b, h, i0, i1);
}
void backwardQScalarHeads(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    for (int64_t h = h0; h < h0 + nh; ++h)
        detail::attentionBackwardQScalar(a, b, h, i0, i1);
}

} // namespace

namespace detail {

int64_t attentionHeadsPerTask(const AttentionShape& s)
{
    static const int64_t hardwareThreads = std::max<int64_t>(1, std::thread::hardware_concurrency());
    if (s.kvHeads < 1 || s.heads % s.kvHeads != 0) // not checked yet: no grouping to speak of
        return 1;
    const int64_t group = s.heads / s.kvHeads, minTasks = 4 * hardwareThreads;
    for (int64_t nh = std::min(group, kAttentionMaxHeadsPerTask); nh > 1; --nh)
        if (group % nh == 0 && s.batch * (s.heads / nh) * pairCount(s.queryLen) >= minTasks)
            return nh;
    return 1;
}

} // namespace detail

int64_t causalAttentionForwardTasks(const AttentionShape& s)
{
    return s.batch * (s.heads / detail::attentionHeadsPerTask(s)) * pairCount(s.queryLen);
}
int64_t causalAttentionBackwardQTasks(const AttentionShape& s) { return causalAttentionForwardTasks(s); }
int64_t causalAttentionBackwardKvTasks(const AttentionShape& s)
{
    return s.queryLen == 0 ? 0 : s.batch * s.kvHeads * pairCount(s.keyLen);
}

void causalAttentionForward(const AttentionArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    detail::AttentionQueryTileKernel kernel = forwardScalarHeads;
    switch (resolve(a.isa)) {
    case AttentionIsa::Avx512Bf16: kernel = detail::attentionForwardAvx512Bf16; break;
    case AttentionIsa::Avx512: kernel = detail::attentionForwardAvx512; break;
    default: break;
    }
    runQueryPairs(kernel, a, taskBegin, taskEnd);
}

void causalAttentionBackwardQ(const AttentionArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    detail::AttentionQueryTileKernel kernel = backwardQScalarHeads;
    switch (resolve(a.isa)) {
    case AttentionIsa::Avx512Bf16: kernel = detail::attentionBackwardQAvx512Bf16; break;
    case AttentionIsa::Avx512: kernel = detail::attentionBackwardQAvx512; break;
    default: break;
    }
    runQueryPairs(kernel, a, taskBegin, taskEnd);
}

void causalAttentionBackwardKv(const AttentionArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    detail::AttentionKeyTileKernel kernel = detail::attentionBackwardKvScalar;
    switch (resolve(a.isa)) {
    case AttentionIsa::Avx512Bf16: kernel = detail::attentionBackwardKvAvx512Bf16; break;
    case AttentionIsa::Avx512: kernel = detail::attentionBackwardKvAvx512; break;
    default: break;
    }
    runKeyPairs(kernel, a, taskBegin, taskEnd);
}

double causalAttentionForwardFlops(const AttentionShape& s)
{
    const int64_t offset = s.keyLen - s.queryLen;
    double visible = 0;
    for (int64_t i = 0; i < s.queryLen; ++i) {
        const int64_t pos = offset + i;
        visible += double(pos - detail::attentionFirstKey(s, pos) + 1);
    }
    return 4.0 * double(s.headDim) * double(s.batch) * double(s.heads) * visible;
}

} // namespace tbk
