// The GGUF file types an export offers, and which ggml type each tensor gets for one, following
// llama.cpp's quantizer (src/llama-quant.cpp, llama_tensor_get_type) so that our Q4_K_M is the
// file llama-quantize would make from the same fp32 weights:
// - 1-D tensors (norms, biases, rope_freqs) stay F32 in every file type.
// - F32 / F16 / BF16: every 2-D tensor in that type.
// - Q8_0, Q4_0, Q6_K: that type; Q4_K_M: Q4_K; Q5_K_M: Q5_K; except
//   - the output matrix (token_embd too when the embeddings are tied): Q6_K, or Q8_0 when the
//     file type is Q8_0 or its row length is not a multiple of the base type's block;
//   - Q4_K_M and Q5_K_M: attn_v and ffn_down of the "more bits" layers get Q6_K, where
//     more bits = the first and last eighth of the layers and every third layer between
//     (i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2);
//   - a row length that is not a multiple of 256 demotes Q4_K -> Q5_0, Q5_K -> Q5_1,
//     Q6_K -> Q8_0, and one not a multiple of 32 falls back to F16.
#pragma once

#include "cpu/GgmlQuant.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

enum class GgufFileType { F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K };

std::optional<GgufFileType> ggufFileTypeFromName(const std::string& name); // "q4_k_m", ...
const char* ggufFileTypeName(GgufFileType type);                           // "q4_k_m", ...
std::vector<GgufFileType> allGgufFileTypes();
uint32_t llamaFileTypeNumber(GgufFileType type); // general.file_type (enum llama_ftype)
bool isQuantized(GgufFileType type);

// What the chooser needs to know about one tensor.
struct GgufTensorRole {
    std::string ggufName;  // "blk.3.attn_v.weight"
    int64_t rowElements = 0; // dims[0]
    int64_t dimensions = 2;
    int64_t layer = -1;    // -1 outside the blocks
    int64_t layerCount = 0;
    bool tiedEmbeddings = false;
};

tbk::GgmlType ggufTensorType(GgufFileType fileType, const GgufTensorRole& role);

} // namespace tb
