#include "formats/ConfigKeys.h"

namespace tb {

namespace {

constexpr unsigned kLlamaQwen3 = kConfigLlama | kConfigQwen3;
constexpr unsigned kSlidingFamilies = kConfigMistral | kConfigQwen2 | kConfigQwen3;
constexpr unsigned kQwen = kConfigQwen2 | kConfigQwen3;

using U = ConfigKeyUse;

// Sources: transformers' models/{llama,mistral,qwen2,qwen3}/configuration_*.py and
// modeling_*.py (4.40 to 4.56, and 5.0's rope_parameters), configuration_utils.PretrainedConfig,
// modeling_rope_utils.
const std::vector<ConfigKey> kKeys = {
    // Shape of the network.
    {"vocab_size", kConfigAll, U::Honoured, nullptr, "rows of embed_tokens and lm_head"},
    {"hidden_size", kConfigAll, U::Honoured, nullptr, "width of the residual stream"},
    {"intermediate_size", kConfigAll, U::Honoured, nullptr, "width of the SwiGLU MLP (gate_proj, up_proj)"},
    {"num_hidden_layers", kConfigAll, U::Honoured, nullptr, "decoder layers"},
    {"num_attention_heads", kConfigAll, U::Honoured, nullptr, "query heads"},
    {"num_key_value_heads", kConfigAll, U::Honoured, nullptr,
     "key/value heads, each serving num_attention_heads / num_key_value_heads query heads (repeat_kv); absent: "
     "LlamaConfig uses num_attention_heads, MistralConfig 8, Qwen2Config and Qwen3Config 32"},
    {"head_dim", kConfigAll, U::Honoured, nullptr,
     "per-head width (the attention modules read getattr(config, \"head_dim\", hidden_size // num_attention_heads)); "
     "absent: Qwen3Config uses 128"},
    {"hidden_act", kConfigAll, U::Honoured, nullptr,
     "the MLP's activation (ACT2FN): \"silu\" and its alias \"swish\" are implemented, any other is refused"},
    {"rms_norm_eps", kConfigAll, U::Honoured, nullptr, "epsilon of every RMSNorm"},
    {"tie_word_embeddings", kConfigAll, U::Honoured, nullptr, "lm_head shares embed_tokens' weight"},
    {"pad_token_id", kConfigAll, U::Honoured, nullptr,
     "nn.Embedding's padding_idx: that embedding row gets no gradient in full fine-tuning (negative counts from the end)"},
    // Rotary position embedding.
    {"rope_theta", kConfigAll, U::Honoured, nullptr, "RoPE base frequency"},
    {"rope_scaling", kConfigAll, U::Honoured, nullptr,
     "RoPE frequency scaling (modeling_rope_utils): \"default\", \"linear\" and \"llama3\" are implemented; \"dynamic\", "
     "\"yarn\", \"longrope\" and any other type are refused"},
    {"rope_parameters", kConfigAll, U::Honoured, nullptr,
     "transformers 5's rope_theta + rope_scaling in one object (the same types); must agree with rope_theta and "
     "rope_scaling when a config carries both"},
    {"partial_rotary_factor", kConfigAll, U::RefusedUnlessNeutral, "1.0",
     "rotates only that fraction of each head (_compute_default_rope_parameters reads it through getattr); not implemented"},
    // Attention.
    {"attention_bias", kLlamaQwen3, U::Honoured, nullptr,
     "bias on q_proj, k_proj, v_proj and o_proj (LlamaAttention, Qwen3Attention; Qwen2 always has q/k/v biases and "
     "no o_proj bias, Mistral none)"},
    {"attention_dropout", kConfigAll, U::RefusedUnlessNeutral, "0.0",
     "dropout on the attention probabilities while training (eager_attention_forward); not implemented"},
    {"sliding_window", kSlidingFamilies, U::Honoured, nullptr,
     "a sliding layer's query i attends keys j with i - sliding_window < j <= i; Mistral: every layer (absent: 4096, "
     "null: none); Qwen2/Qwen3: the layers layer_types marks, only with use_sliding_window"},
    {"use_sliding_window", kQwen, U::Honoured, nullptr, "false: no layer slides (Qwen2Config sets sliding_window to None)"},
    {"max_window_layers", kQwen, U::Honoured, nullptr,
     "the default layer_types: layer i slides when i >= max_window_layers (absent: 28)"},
    {"layer_types", kQwen, U::Honoured, nullptr,
     "per layer \"full_attention\" or \"sliding_attention\" (transformers 4.53+); any other type is refused"},
    // MLP.
    {"mlp_bias", kConfigLlama, U::RefusedUnlessNeutral, "false", "bias on gate_proj, up_proj and down_proj (LlamaMLP); not implemented"},
    // Checkpoint form.
    {"quantization_config", kConfigAll, U::RefusedUnlessNeutral, "null",
     "a quantized checkpoint (bitsandbytes, GPTQ, AWQ, FP8, ...); Tunebench loads floating-point weights only"},
    {"pruned_heads", kConfigAll, U::RefusedUnlessNeutral, "{}",
     "attention heads removed at load (PreTrainedModel.prune_heads); not implemented (nor by these models in transformers)"},
    {"auto_map", kConfigAll, U::Warned, nullptr,
     "names custom modeling code that transformers runs with trust_remote_code; Tunebench runs its built-in "
     "architecture, which that code may not compute"},
    // Metadata and what only generation or the training loop reads.
    {"architectures", kConfigAll, U::NoEffect, nullptr, "which model class (read: the architecture)"},
    {"model_type", kConfigAll, U::NoEffect, nullptr, "which config class (read: must match architectures)"},
    {"max_position_embeddings", kConfigAll, U::NoEffect, nullptr,
     "the context length reported and written to GGUF; the implemented RoPE types do not depend on it"},
    {"torch_dtype", kConfigAll, U::NoEffect, nullptr, "dtype the weights were saved in (read: what merged models keep)"},
    {"dtype", kConfigAll, U::NoEffect, nullptr, "transformers 4.56+'s name for torch_dtype"},
    {"bos_token_id", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"eos_token_id", kConfigAll, U::NoEffect, nullptr, "generation default (read: generation stops on it)"},
    {"initializer_range", kConfigAll, U::NoEffect, nullptr, "std of the random init of a new model; loaded weights replace it"},
    {"use_cache", kConfigAll, U::NoEffect, nullptr, "generation keeps a KV cache"},
    {"pretraining_tp", kConfigLlama, U::NoEffect, nullptr,
     "slices the projections' matmuls into that many parts and sums them: the same function"},
    {"transformers_version", kConfigAll, U::NoEffect, nullptr, "writer's version"},
    {"_name_or_path", kConfigAll, U::NoEffect, nullptr, "where the model was loaded from"},
    {"_commit_hash", kConfigAll, U::NoEffect, nullptr, "hub revision"},
    {"_attn_implementation", kConfigAll, U::NoEffect, nullptr, "eager, sdpa or flash attention: the same function"},
    {"_attn_implementation_autoset", kConfigAll, U::NoEffect, nullptr, "bookkeeping"},
    {"attn_implementation", kConfigAll, U::NoEffect, nullptr, "eager, sdpa or flash attention: the same function"},
    {"gradient_checkpointing", kConfigAll, U::NoEffect, nullptr, "training memory switch of old configs"},
    {"return_dict", kConfigAll, U::NoEffect, nullptr, "output container"},
    {"output_hidden_states", kConfigAll, U::NoEffect, nullptr, "what forward returns besides logits"},
    {"output_attentions", kConfigAll, U::NoEffect, nullptr, "what forward returns besides logits"},
    {"torchscript", kConfigAll, U::NoEffect, nullptr, "export switch"},
    {"use_bfloat16", kConfigAll, U::NoEffect, nullptr, "TensorFlow-era dtype hint"},
    {"tf_legacy_loss", kConfigAll, U::NoEffect, nullptr, "TensorFlow loss switch"},
    {"is_encoder_decoder", kConfigAll, U::NoEffect, nullptr, "false for causal LMs"},
    {"is_decoder", kConfigAll, U::NoEffect, nullptr, "not read by these models"},
    {"add_cross_attention", kConfigAll, U::NoEffect, nullptr, "not read by these models"},
    {"cross_attention_hidden_size", kConfigAll, U::NoEffect, nullptr, "not read by these models"},
    {"tie_encoder_decoder", kConfigAll, U::NoEffect, nullptr, "encoder-decoder models only"},
    {"chunk_size_feed_forward", kConfigAll, U::NoEffect, nullptr, "not read by these models (chunking is the same function)"},
    {"finetuning_task", kConfigAll, U::NoEffect, nullptr, "label"},
    {"id2label", kConfigAll, U::NoEffect, nullptr, "classification heads only"},
    {"label2id", kConfigAll, U::NoEffect, nullptr, "classification heads only"},
    {"num_labels", kConfigAll, U::NoEffect, nullptr, "classification heads only"},
    {"problem_type", kConfigAll, U::NoEffect, nullptr, "classification heads only"},
    {"tokenizer_class", kConfigAll, U::NoEffect, nullptr, "tokenizer hint"},
    {"prefix", kConfigAll, U::NoEffect, nullptr, "prompt prefix hint"},
    {"sep_token_id", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"decoder_start_token_id", kConfigAll, U::NoEffect, nullptr, "encoder-decoder generation"},
    {"task_specific_params", kConfigAll, U::NoEffect, nullptr, "pipeline defaults"},
    {"max_length", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"min_length", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"do_sample", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"early_stopping", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"num_beams", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"num_beam_groups", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"diversity_penalty", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"temperature", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"top_k", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"top_p", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"typical_p", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"repetition_penalty", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"length_penalty", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"no_repeat_ngram_size", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"encoder_no_repeat_ngram_size", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"bad_words_ids", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"num_return_sequences", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"output_scores", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"return_dict_in_generate", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"forced_bos_token_id", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"forced_eos_token_id", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"remove_invalid_values", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"exponential_decay_length_penalty", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"suppress_tokens", kConfigAll, U::NoEffect, nullptr, "generation default"},
    {"begin_suppress_tokens", kConfigAll, U::NoEffect, nullptr, "generation default"},
};

} // namespace

const std::vector<ConfigKey>& configKeys()
{
    return kKeys;
}

unsigned configArchitectureBit(const std::string& modelType)
{
    if (modelType == "llama")
        return kConfigLlama;
    if (modelType == "mistral")
        return kConfigMistral;
    if (modelType == "qwen2")
        return kConfigQwen2;
    if (modelType == "qwen3")
        return kConfigQwen3;
    return 0;
}

const ConfigKey* findConfigKey(const std::string& key, const std::string& modelType)
{
    const unsigned bit = configArchitectureBit(modelType);
    for (const ConfigKey& k : kKeys)
        if ((k.architectures & bit) != 0 && key == k.name)
            return &k;
    return nullptr;
}

const char* configKeyUseName(ConfigKeyUse use)
{
    switch (use) {
    case ConfigKeyUse::Honoured: return "honoured";
    case ConfigKeyUse::RefusedUnlessNeutral: return "refused unless neutral";
    case ConfigKeyUse::NoEffect: return "no effect on the computation";
    case ConfigKeyUse::Warned: return "warned";
    }
    return "";
}

} // namespace tb
