#include "export/GgufFileType.h"

namespace tb {

namespace {

using tbk::GgmlType;

struct FileTypeRow {
    GgufFileType type;
    const char* name;
    uint32_t llamaNumber; // enum llama_ftype
    GgmlType base;
};

const FileTypeRow kRows[] = {
    {GgufFileType::F32, "f32", 0, GgmlType::F32},       {GgufFileType::F16, "f16", 1, GgmlType::F16},
    {GgufFileType::BF16, "bf16", 32, GgmlType::BF16},   {GgufFileType::Q8_0, "q8_0", 7, GgmlType::Q8_0},
    {GgufFileType::Q4_0, "q4_0", 2, GgmlType::Q4_0},    {GgufFileType::Q4_K_M, "q4_k_m", 15, GgmlType::Q4_K},
    {GgufFileType::Q5_K_M, "q5_k_m", 17, GgmlType::Q5_K}, {GgufFileType::Q6_K, "q6_k", 18, GgmlType::Q6_K},
};

const FileTypeRow& row(GgufFileType type)
{
    for (const auto& r : kRows)
        if (r.type == type)
            return r;
    return kRows[0];
}

int64_t blockOf(GgmlType type)
{
    return tbk::ggmlTypeInfo(type)->blockElements;
}

bool endsWith(const std::string& s, const char* tail)
{
    const std::string t(tail);
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

bool useMoreBits(int64_t i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

} // namespace

std::optional<GgufFileType> ggufFileTypeFromName(const std::string& name)
{
    for (const auto& r : kRows)
        if (name == r.name)
            return r.type;
    return std::nullopt;
}

const char* ggufFileTypeName(GgufFileType type)
{
    return row(type).name;
}

std::vector<GgufFileType> allGgufFileTypes()
{
    std::vector<GgufFileType> all;
    for (const auto& r : kRows)
        all.push_back(r.type);
    return all;
}

uint32_t llamaFileTypeNumber(GgufFileType type)
{
    return row(type).llamaNumber;
}

bool isQuantized(GgufFileType type)
{
    return type != GgufFileType::F32 && type != GgufFileType::F16 && type != GgufFileType::BF16;
}

tbk::GgmlType ggufTensorType(GgufFileType fileType, const GgufTensorRole& role)
{
    if (role.dimensions < 2)
        return GgmlType::F32;
    const GgmlType base = row(fileType).base;
    if (!isQuantized(fileType))
        return base;

    GgmlType type = base;
    const bool output = role.ggufName == "output.weight" || (role.tiedEmbeddings && role.ggufName == "token_embd.weight");
    if (output) {
        if (role.rowElements % blockOf(base) != 0)
            type = GgmlType::Q8_0;
        else if (base != GgmlType::Q8_0)
            type = GgmlType::Q6_K;
    } else if (fileType == GgufFileType::Q4_K_M || fileType == GgufFileType::Q5_K_M) {
        const bool mixed = endsWith(role.ggufName, ".attn_v.weight") || endsWith(role.ggufName, ".ffn_down.weight");
        if (mixed && role.layer >= 0 && useMoreBits(role.layer, role.layerCount))
            type = GgmlType::Q6_K;
    }

    if (role.rowElements % blockOf(type) != 0) {
        switch (type) {
        case GgmlType::Q4_K: type = GgmlType::Q5_0; break;
        case GgmlType::Q5_K: type = GgmlType::Q5_1; break;
        case GgmlType::Q6_K: type = GgmlType::Q8_0; break;
        default: break;
        }
        if (role.rowElements % blockOf(type) != 0)
            type = GgmlType::F16;
    }
    return type;
}

} // namespace tb
