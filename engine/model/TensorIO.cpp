#include "model/TensorIO.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace tb {

std::optional<at::ScalarType> scalarTypeOf(DType dtype)
{
    switch (dtype) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::Bool: return at::kBool;
    }
    return std::nullopt;
}

DType dtypeOf(at::ScalarType type)
{
    switch (type) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::Bool;
    default: break;
    }
    throw std::invalid_argument(std::string("no safetensors dtype for ") + c10::toString(type));
}

at::Tensor readTensor(const SafetensorsReader& file, const SafetensorInfo& info)
{
    const auto type = scalarTypeOf(info.dtype);
    if (!type)
        throw std::invalid_argument(file.path() + ": tensor \"" + info.name + "\" has an unsupported dtype");
    at::Tensor out = at::empty(info.shape, at::TensorOptions().dtype(*type));
    if (info.byteSize() > 0)
        std::memcpy(out.data_ptr(), file.data(info), info.byteSize());
    return out;
}

void addTensor(SafetensorsWriter& writer, const std::string& name, const at::Tensor& tensor,
               std::optional<at::ScalarType> as)
{
    at::Tensor cpu = tensor.detach().to(at::kCPU);
    if (as)
        cpu = cpu.to(*as);
    cpu = cpu.contiguous();
    const auto sizes = cpu.sizes();
    writer.add(name, dtypeOf(cpu.scalar_type()), std::vector<int64_t>(sizes.begin(), sizes.end()), cpu.data_ptr(),
               static_cast<size_t>(cpu.numel()) * cpu.element_size());
}

std::optional<at::ScalarType> scalarTypeFromName(const std::string& name)
{
    if (name == "bfloat16" || name == "bf16")
        return at::kBFloat16;
    if (name == "float32" || name == "fp32" || name == "float")
        return at::kFloat;
    if (name == "float16" || name == "fp16" || name == "half")
        return at::kHalf;
    return std::nullopt;
}

const char* scalarTypeName(at::ScalarType type)
{
    switch (type) {
    case at::kBFloat16: return "bfloat16";
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    default: return c10::toString(type);
    }
}

std::string shapeText(at::IntArrayRef shape)
{
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i)
        out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

} // namespace tb
