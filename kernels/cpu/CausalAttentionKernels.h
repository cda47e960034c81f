// Internal: the per-ISA attention loops behind CausalAttention.h. Each runs one tile: query
// rows [i0, i1) of (batch b, head h) for Forward and BackwardQ, key rows [j0, j1) of (batch b,
// kv head g) for BackwardKv. Tiles are at most kAttentionTile rows; arguments are checked.
#pragma once

#include <cstdint>

#include "cpu/CausalAttention.h"

namespace tbk::detail {

constexpr int64_t kAttentionTile = 64; // query and key tile rows of the task split

using AttentionTileKernel = void (*)(const AttentionArgs& args, int64_t b, int64_t head, int64_t r0, int64_t r1);

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
void attentionForwardAvx512(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardQAvx512(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardKvAvx512(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);
bool attentionAvx512Bf16Compiled();
void attentionForwardAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardQAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t h, int64_t i0, int64_t i1);
void attentionBackwardKvAvx512Bf16(const AttentionArgs& args, int64_t b, int64_t g, int64_t j0, int64_t j1);

} // namespace tbk::detail
