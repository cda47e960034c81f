// Element types of safetensors files, with the spellings the format uses ("F32", "BF16", ...).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tb {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

size_t dtypeSize(DType dtype);                           // bytes per element
const char* dtypeName(DType dtype);                      // "F32", "BF16", "BOOL", ...
std::optional<DType> dtypeFromName(std::string_view name);

} // namespace tb
