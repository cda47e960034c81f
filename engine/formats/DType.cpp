#include "formats/DType.h"

namespace tb {

namespace {

struct DTypeRow {
    DType dtype;
    const char* name; // spelling used in safetensors headers
    size_t size;      // bytes per element
};

// BOOL is stored as one byte per element, as in the reference implementation.
constexpr DTypeRow kRows[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1}, {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
};

const DTypeRow& row(DType dtype)
{
    for (const DTypeRow& r : kRows) {
        if (r.dtype == dtype)
            return r;
    }
    return kRows[1]; // unreachable for a valid enum value
}

} // namespace

size_t dtypeSize(DType dtype)
{
    return row(dtype).size;
}

const char* dtypeName(DType dtype)
{
    return row(dtype).name;
}

std::optional<DType> dtypeFromName(std::string_view name)
{
    for (const DTypeRow& r : kRows) {
        if (name == r.name)
            return r.dtype;
    }
    return std::nullopt;
}

} // namespace tb
