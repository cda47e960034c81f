// Internal: the per-ISA attention loops behind CausalAttention.h. Each runs one tile: query
// rows [i0, i1) of query heads [h0, h0 + nh) of batch b for Forward and BackwardQ (heads of one
// KV group, see attentionHeadsPerTask), key rows [j0, j1) of (batch b, kv head g) for BackwardKv.
// Tiles are at most kAttentionTile rows; arguments are checked.
#pragma once

#include <cstdint>

#include "cpu/CausalAttention.h"

namespace tbk::detail {

constexpr int64_t kAttentionTile = 64; // query and key tile rows of the task split

using AttentionQueryTileKernel = void (*)(const AttentionArgs& args, int64_t b, int64_t h0, int64_t nh, int64_t i0,
                                          int64_t i1);
using AttentionKeyTileKernel = void (*)(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);

// Query heads a Forward / BackwardQ task takes together: the largest divisor of the group size
// H / KV, at most kAttentionMaxHeadsPerTask, that still leaves at least 4 tasks per hardware
// thread (else 1). The tiled variants stack those heads' query rows into one tile (all share the
// K/V tiles and their packed forms; each row's arithmetic is the same as alone, so the bits do
// not depend on this choice). Depends on the shape and the machine only, never on the split.
constexpr int64_t kAttentionMaxHeadsPerTask = 4;
int64_t attentionHeadsPerTask(const AttentionShape& s);

// Visible keys of query i (before keyValid): [lo, hi], empty when lo > hi.
inline int64_t attentionQueryOffset(const AttentionShape& s) { return s.keyLen - s.queryLen; }
inline int64_t attentionFirstKey(const AttentionShape& s, int64_t pos)
{
    return s.window > 0 && pos - s.window + 1 > 0 ? pos - s.window + 1 : 0;
}

void attentionForwardScalar(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardQScalar(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardKvScalar(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);

// CausalAttentionAvx512.cpp / CausalAttentionAvx512Bf16.cpp; *Compiled() says whether the file
// was built with its -m flags (false elsewhere, where the loops are stubs).
bool attentionAvx512Compiled();
void attentionForwardAvx512(const AttentionArgs& args, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1);
void attentionBackwardQAvx512(const AttentionArgs& args, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1);
void attentionBackwardKvAvx512(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);
bool attentionAvx512Bf16Compiled();
void attentionForwardAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t h0, int64_t nh, int64_t i0,
                                int64_t i1);
void attentionBackwardQAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t h0, int64_t nh, int64_t i0,
                                  int64_t i1);
void attentionBackwardKvAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);

} // namespace tbk::detail
