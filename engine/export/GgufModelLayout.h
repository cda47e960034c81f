// How a Hugging Face model of a family Tunebench trains is laid out in GGUF, as llama.cpp's own
// converter (convert_hf_to_gguf.py: LlamaModel, Qwen2Model, Qwen3Model) writes it:
//   architecture  LlamaForCausalLM, MistralForCausalLM -> "llama"; Qwen2 -> "qwen2"; Qwen3 -> "qwen3"
//   tensor names  model.embed_tokens -> token_embd, model.norm -> output_norm, lm_head -> output,
//                 model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
//                 post_attention_layernorm, mlp.{gate,up,down}_proj} -> blk.N.{attn_norm,
//                 attn_q/k/v/output, attn_q_norm/attn_k_norm, ffn_norm, ffn_gate/up/down}
//   rotary layout Hugging Face stores q_proj/k_proj rows for the half-split rotation ("NeoX");
//                 llama.cpp's "llama" architecture rotates interleaved pairs, so those rows (and a
//                 LoRA B's rows, and q/k biases) are permuted: per head, row j*(d/2)+i moves to
//                 i*2+j. qwen2 and qwen3 run the half-split rotation and are written as stored.
//   Llama 3.x rope scaling is not a key: it is the tensor rope_freqs.weight (head_dim/2 factors).
#pragma once

#include "formats/ModelConfig.h"
#include "gguf/GgufValue.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

// llama.cpp's architecture name; throws FormatError naming config.json for one it lacks, and
// for a Qwen3 with attention_bias (llama.cpp's qwen3 has no o_proj bias). The llama
// architecture takes o_proj's bias as blk.N.attn_output.bias.
std::string ggufArchitectureFor(const ModelConfig& config, const std::string& configPath);
bool ggufPermutesRotaryRows(const std::string& ggufArchitecture);

// general.architecture and the {arch}.* hyperparameters (not general.file_type, not tokenizer.*).
std::vector<GgufKeyValue> ggufModelHyperparameters(const ModelConfig& config, const std::string& ggufArchitecture);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for a name that is
// not part of the model.
std::string ggufTensorName(const std::string& huggingFaceName);
// "q_proj" of layer 3 -> "blk.3.attn_q"; "" for a projection the layout lacks.
std::string ggufProjectionName(int64_t layer, const std::string& projection);

// Rows of a row-major [heads * headDim, cols] matrix, permuted for the interleaved rotation.
void permuteRotaryRows(const float* src, float* dst, int64_t heads, int64_t headDim, int64_t cols);

// Llama 3.x's per-frequency factors (rope_freqs.weight), computed as the converter does.
std::vector<float> llama3RopeFactors(const ModelConfig& config);

} // namespace tb
