// How the frozen base of a QLoRA run is quantized (Dettmers et al. 2023, arXiv 2305.14314).
//   Nf4   - 4-bit NormalFloat, bitsandbytes' quantize_4bit(quant_type="nf4"): the QLoRA default.
//   Int8  - bitsandbytes' 8-bit blockwise mode (quantize_blockwise, signed dynamic map): twice
//           the bytes of NF4, about a tenth of its error; for checking how much NF4 costs.
// doubleQuant quantizes the per-block absmax again (8-bit codes, fp32 scale per 256 blocks,
// one fp32 offset): 0.127 instead of 0.5 bits per parameter at blockSize 64.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tb {

struct QuantSettings {
    enum class Type { Nf4, Int8 };
    Type type = Type::Nf4;
    bool doubleQuant = true;
    int64_t blockSize = 64; // NF4: power of two 32..4096; Int8: 64..4096

    bool operator==(const QuantSettings& o) const
    {
        return type == o.type && doubleQuant == o.doubleQuant && blockSize == o.blockSize;
    }
    bool operator!=(const QuantSettings& o) const { return !(*this == o); }

    // "nf4-bs64-dq", "int8-bs64": the cache file's stem and the settings' identity.
    std::string tag() const
    {
        return std::string(typeName(type)) + "-bs" + std::to_string(blockSize) + (doubleQuant ? "-dq" : "");
    }

    static const char* typeName(Type t) { return t == Type::Nf4 ? "nf4" : "int8"; }
    // "nf4" / "int8" (case-sensitive, the spellings of --quant and bitsandbytes' quant_type).
    static std::optional<Type> typeFromName(const std::string& name)
    {
        if (name == "nf4")
            return Type::Nf4;
        if (name == "int8")
            return Type::Int8;
        return std::nullopt;
    }
    // Empty when valid, else a sentence saying what is wrong.
    std::string validate() const
    {
        const bool pow2 = blockSize > 0 && (blockSize & (blockSize - 1)) == 0;
        const int64_t lo = type == Type::Nf4 ? 32 : 64;
        if (!pow2 || blockSize < lo || blockSize > 4096)
            return "quantization block size " + std::to_string(blockSize) + " must be a power of two from "
                   + std::to_string(lo) + " to 4096 for " + typeName(type);
        return {};
    }
};

} // namespace tb
