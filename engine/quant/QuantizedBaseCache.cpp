#include "quant/QuantizedBaseCache.h"

#include "formats/FormatError.h"
#include "model/ProjectionSites.h"
#include "model/TensorIO.h"
#include "quant/QuantizedLinear.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace tb {

namespace fs = std::filesystem;

namespace {

// Bump when the layout or the quantizer's output changes: old caches are then rebuilt.
constexpr const char* kCacheVersion = "1";
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t fnv1a(uint64_t hash, const void* data, size_t size)
{
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i)
        hash = (hash ^ p[i]) * kFnvPrime;
    return hash;
}

std::string hex64(uint64_t v)
{
    char text[17];
    for (int i = 15; i >= 0; --i, v >>= 4)
        text[i] = "0123456789abcdef"[v & 15];
    text[16] = 0;
    return text;
}

// A safetensors file's header (8-byte length + JSON: every name, dtype, shape and offset) is its
// table of contents; hashing it costs one small read however large the file is. JSON files
// (config, index) are hashed whole.
std::string fileHash(const fs::path& path, bool safetensors)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path.string(), "cannot read");
    std::vector<char> bytes;
    if (safetensors) {
        unsigned char len[8] = {};
        in.read(reinterpret_cast<char*>(len), 8);
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | len[i];
        n = std::min<uint64_t>(n, 100u << 20);
        bytes.resize(8 + n);
        std::memcpy(bytes.data(), len, 8);
        in.read(bytes.data() + 8, static_cast<std::streamsize>(n));
        bytes.resize(8 + static_cast<size_t>(in.gcount()));
    } else {
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return hex64(fnv1a(kFnvOffset, bytes.data(), bytes.size()));
}

// Python's repr() of a float (what json.dumps writes): the shortest digits that round-trip,
// fixed notation for decimal exponents -4..15 (with ".0" when integral), else d.ddde-XX.
std::string pythonFloat(double v)
{
    if (v == 0.0)
        return std::signbit(v) ? "-0.0" : "0.0";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);
    const size_t e = sci.find('e');
    std::string mant = sci.substr(0, e);
    const int exp10 = std::stoi(sci.substr(e + 1));
    std::string sign;
    if (mant[0] == '-') {
        sign = "-";
        mant.erase(0, 1);
    }
    std::string digits = mant;
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    if (exp10 >= -4 && exp10 < 16) {
        std::string out;
        if (exp10 < 0) {
            out = "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
        } else if (static_cast<int>(digits.size()) <= exp10 + 1) {
            out = digits + std::string(static_cast<size_t>(exp10 + 1 - static_cast<int>(digits.size())), '0') + ".0";
        } else {
            out = digits.substr(0, static_cast<size_t>(exp10 + 1)) + "." + digits.substr(static_cast<size_t>(exp10 + 1));
        }
        return sign + out;
    }
    const int a = exp10 < 0 ? -exp10 : exp10;
    return sign + mant + "e" + (exp10 < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
}

const char* quantStateSuffix(const QuantSettings& s)
{
    return s.type == QuantSettings::Type::Nf4 ? ".weight.quant_state.bitsandbytes__nf4" : ".weight.quant_state.tunebench__int8";
}

at::Tensor bytesTensor(const std::string& text)
{
    at::Tensor t = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
    std::memcpy(t.data_ptr<uint8_t>(), text.data(), text.size());
    return t;
}

class CacheFile {
public:
    explicit CacheFile(const std::string& path) : m_reader(path) {}

    const SafetensorsReader& reader() const { return m_reader; }
    at::Tensor tensor(const std::string& name, bool required = true) const
    {
        const SafetensorInfo* info = m_reader.find(name);
        if (!info) {
            if (required)
                throw FormatError(m_reader.path(), "tensor \"" + name + "\" is missing");
            return {};
        }
        return readTensor(m_reader, *info);
    }

private:
    SafetensorsReader m_reader;
};

// One stored layer, validated against the projection it replaces; throws on any mismatch.
std::shared_ptr<QuantizedLinear> readLayer(const CacheFile& file, const std::string& prefix, const Projection& current,
                                           const QuantSettings& settings)
{
    const std::string& path = file.reader().path();
    QuantizedLinear::StoredState s;
    s.settings = settings;
    s.outFeatures = current.outFeatures();
    s.inFeatures = current.inFeatures();
    const at::Tensor stateBytes = file.tensor(prefix + quantStateSuffix(settings));
    if (stateBytes.scalar_type() != at::kByte || stateBytes.dim() != 1)
        throw FormatError(path, prefix + ": quant state is not a uint8 vector");
    const std::string text(reinterpret_cast<const char*>(stateBytes.data_ptr<uint8_t>()),
                           static_cast<size_t>(stateBytes.numel()));
    const nlohmann::json state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    const bool nested = settings.doubleQuant;
    if (!state.is_object() || state.value("quant_type", "") != QuantSettings::typeName(settings.type)
        || state.value("blocksize", int64_t(0)) != settings.blockSize
        || state.value("shape", std::vector<int64_t>{}) != std::vector<int64_t>{s.outFeatures, s.inFeatures}
        || state.contains("nested_offset") != nested
        || (nested && state.value("nested_blocksize", int64_t(0)) != 256))
        throw FormatError(path, prefix + ": quant state " + text + " does not match the model and settings");
    const auto dtype = scalarTypeFromName(state.value("dtype", ""));
    if (!dtype)
        throw FormatError(path, prefix + ": quant state dtype \"" + state.value("dtype", "") + "\" unknown");
    s.originalDtype = *dtype;
    s.weight = file.tensor(prefix + ".weight");
    s.absmax = file.tensor(prefix + ".weight.absmax");
    s.quantMap = file.tensor(prefix + ".weight.quant_map");
    if (nested) {
        s.nestedAbsmax = file.tensor(prefix + ".weight.nested_absmax");
        s.nestedQuantMap = file.tensor(prefix + ".weight.nested_quant_map");
        if (!state["nested_offset"].is_number())
            throw FormatError(path, prefix + ": nested_offset is not a number");
        s.nestedOffset = static_cast<float>(state["nested_offset"].get<double>());
    }
    const auto* linear = dynamic_cast<const Linear*>(&current);
    if (linear && linear->bias.defined())
        s.bias = file.tensor(prefix + ".bias").to(linear->bias.scalar_type());
    try {
        return QuantizedLinear::fromStored(std::move(s));
    } catch (const std::invalid_argument& e) {
        throw FormatError(path, prefix + ": " + e.what());
    }
}

} // namespace

std::string QuantizedBaseCache::cachePath(const std::string& modelDir, const QuantSettings& settings,
                                          const std::string& cacheDir)
{
    const fs::path dir = cacheDir.empty() ? fs::path(modelDir) / ".tunebench-cache" : fs::path(cacheDir);
    return (dir / (settings.tag() + ".safetensors")).string();
}

std::string QuantizedBaseCache::sourceIdentity(const std::string& modelDir)
{
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(modelDir)) {
        const std::string name = entry.path().filename().string();
        const bool st = entry.path().extension() == ".safetensors";
        if (entry.is_regular_file() && (st || name == "config.json" || name == "model.safetensors.index.json"))
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::string identity;
    for (const fs::path& p : files) {
        const auto mtime = fs::last_write_time(p).time_since_epoch().count();
        identity += p.filename().string() + " " + std::to_string(fs::file_size(p)) + " " + std::to_string(mtime) + " "
                    + fileHash(p, p.extension() == ".safetensors") + ";";
    }
    return identity;
}

std::string QuantizedBaseCache::quantStateJson(const QuantSettings& settings, at::ScalarType dtype, int64_t out,
                                               int64_t in, float nestedOffset)
{
    // Key order and separators of json.dumps(non_tensor_dict) in QuantState.as_dict(packed=True).
    std::string j = std::string("{\"quant_type\": \"") + QuantSettings::typeName(settings.type) + "\", \"blocksize\": "
                    + std::to_string(settings.blockSize) + ", \"dtype\": \"" + scalarTypeName(dtype) + "\", \"shape\": ["
                    + std::to_string(out) + ", " + std::to_string(in) + "]";
    if (settings.doubleQuant)
        j += ", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": "
             + pythonFloat(static_cast<double>(nestedOffset));
    return j + "}";
}

void QuantizedBaseCache::write(LlamaForCausalLM& model, const QuantSettings& settings, const std::string& source,
                               const std::string& path)
{
    SafetensorsWriter writer;
    for (const auto& item : model.named_parameters(true))
        if (item.key().find(".lora_") == std::string::npos)
            addTensor(writer, item.key(), item.value());
    for (const auto& [prefix, q] : ModelQuantizer::quantizedLayers(model)) {
        addTensor(writer, prefix + ".weight", q->weight);
        addTensor(writer, prefix + ".weight.absmax", q->absmax);
        addTensor(writer, prefix + ".weight.quant_map", q->quant_map);
        if (q->settings().doubleQuant) {
            addTensor(writer, prefix + ".weight.nested_absmax", q->nested_absmax);
            addTensor(writer, prefix + ".weight.nested_quant_map", q->nested_quant_map);
        }
        addTensor(writer, prefix + quantStateSuffix(q->settings()),
                  bytesTensor(quantStateJson(q->settings(), q->originalDtype(), q->outFeatures(), q->inFeatures(),
                                             q->nestedOffset())));
        if (q->bias.defined())
            addTensor(writer, prefix + ".bias", q->bias);
    }
    writer.setMetadata({{"format", "pt"},
                        {"tunebench.quant.version", kCacheVersion},
                        {"tunebench.quant.settings", settings.tag()},
                        {"tunebench.quant.source", source}});
    fs::create_directories(fs::path(path).parent_path());
    writer.write(path);
}

QuantCacheResult QuantizedBaseCache::loadOrQuantize(LlamaForCausalLM& model, const std::string& modelDir,
                                                    const QuantSettings& settings, const QuantCacheOptions& options)
{
    const std::string problem = settings.validate();
    if (!problem.empty())
        throw std::invalid_argument(problem);
    auto info = [&](const std::string& m) { if (options.onInfo) options.onInfo(m); };
    auto warn = [&](const std::string& m) { if (options.onWarning) options.onWarning(m); };
    QuantCacheResult result;
    const std::string path = cachePath(modelDir, settings, options.cacheDir);
    const std::string source = sourceIdentity(modelDir);

    std::error_code ec;
    if (fs::exists(path, ec)) {
        try {
            const CacheFile file(path);
            const auto& meta = file.reader().metadata();
            auto metaValue = [&](const char* key) {
                const auto it = meta.find(key);
                return it == meta.end() ? std::string() : it->second;
            };
            if (metaValue("tunebench.quant.version") != kCacheVersion || metaValue("tunebench.quant.settings") != settings.tag()) {
                info("quantized cache " + path + " was written by another version or with other settings: rebuilding");
            } else if (metaValue("tunebench.quant.source") != source) {
                info("quantized cache " + path + " is stale (the model files changed): rebuilding");
            } else {
                // Read and validate every layer before replacing any, so a bad file leaves the
                // model as it was.
                struct Pending {
                    ProjectionSite site;
                    std::shared_ptr<QuantizedLinear> q;
                };
                std::vector<Pending> pending;
                for (const ProjectionSite& site : projectionSites(model)) {
                    const auto current = site.projection();
                    auto q = readLayer(file, site.path, *current, settings);
                    const auto params = current->parameters();
                    if (!params.empty() && !params.front().device().is_cpu())
                        q->to(params.front().device());
                    pending.push_back({site, std::move(q)});
                }
                for (Pending& p : pending) {
                    result.report.bytesAfter += p.q->storageBytes();
                    result.report.quantizedParameters += p.q->quantizedParameters();
                    ++result.report.layersReplaced;
                    p.site.replace(p.q);
                }
                result.fromCache = true;
                result.path = path;
                info("quantized base read from " + path);
                return result;
            }
        } catch (const std::exception& e) {
            warn(std::string("quantized cache is unusable, rebuilding it: ") + e.what());
        }
    }

    result.report = ModelQuantizer::quantizeBase(model, settings, options.cancelled);
    if (!options.write)
        return result;
    try {
        write(model, settings, source, path);
        result.path = path;
        info("quantized base written to " + path);
    } catch (const std::exception& e) {
        warn(std::string("cannot write the quantized cache (pass a writable cache folder): ") + e.what());
    }
    return result;
}

} // namespace tb
