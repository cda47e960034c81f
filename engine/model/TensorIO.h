// Moves tensors between safetensors files and LibTorch: the dtype mapping, a copy out of the
// memory map (the map may be unaligned and is read-only), and adding tensors to a writer.
#pragma once

#include "formats/DType.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace tb {

std::optional<at::ScalarType> scalarTypeOf(DType dtype); // nullopt for types LibTorch lacks
DType dtypeOf(at::ScalarType type);                       // throws std::invalid_argument if none

// A CPU tensor with the file's dtype and shape, owning a copy of the bytes.
at::Tensor readTensor(const SafetensorsReader& file, const SafetensorInfo& info);

// Adds a contiguous CPU copy of `tensor` (converted to `as` when given).
void addTensor(SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor,
               std::optional<at::ScalarType> as = std::nullopt);

// Parses the "torch_dtype" spellings: "bfloat16"/"bf16", "float32"/"fp32", "float16"/"fp16".
std::optional<at::ScalarType> scalarTypeFromName(const std::string& name);
const char* scalarTypeName(at::ScalarType type); // "bfloat16", "float32", "float16"

std::string shapeText(at::IntArrayRef shape); // "[4096, 11008]", for error messages

} // namespace tb
