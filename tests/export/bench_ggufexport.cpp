// Benchmark (not in CTest): how long a GGUF export of a 1B-parameter model takes on this machine,
// per file type, next to a memcpy of the same fp32 bytes.
//   bench_ggufexport [--dir SCRATCH] [--types f16,q8_0,q4_k_m,...] [--threads N]
// Writes a random TinyLlama-1.1B-shaped checkpoint (hidden 2048, MLP 5632, 22 layers, 32 heads,
// 4 key/value heads, vocabulary 32000; bf16, 2.2 GB) with the demo tokenizer into SCRATCH
// (default: the system's temporary folder), then times exportGgufModel for each type: loading
// the base in fp32, converting every tensor, writing the file. docs/measurements.md records the
// figures.
#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "export/GgufExport.h"
#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

int main(int argc, char** argv)
{
    std::string dir = fs::temp_directory_path().string();
    std::string types = "f16,q8_0,q4_0,q6_k,q5_k_m,q4_k_m";
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!std::strcmp(argv[i], "--types"))
            types = argv[i + 1];
        else if (!std::strcmp(argv[i], "--threads"))
            threads = std::atoi(argv[i + 1]);
    }
    threads = tb::configureThreads(threads);
    const fs::path root = fs::path(dir) / ("tunebench-bench-gguf-" + std::to_string(::getpid()));
    fs::create_directories(root);
    const std::string demo = (root / "demo").string();
    tb::makeDemoModel(demo, "tiny", 0);

    tb::ModelConfig c = tb::demoModelConfig("tiny");
    c.hiddenSize = 2048;
    c.intermediateSize = 5632;
    c.numLayers = 22;
    c.numHeads = 32;
    c.numKeyValueHeads = 4;
    c.headDim = 64;
    c.tieWordEmbeddings = false;
    c.maxPositionEmbeddings = 2048;
    const std::string model = (root / "tinyllama-shaped").string();
    {
        tb::LlamaForCausalLM m(c, at::TensorOptions().dtype(at::kBFloat16));
        at::NoGradGuard g;
        for (auto& p : m.parameters())
            p.dim() == 1 ? p.fill_(1.0) : p.normal_(0.0, 0.02);
        tb::saveModelFolder(m, model, at::kBFloat16);
    }
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(fs::path(demo) / f, fs::path(model) / f);
    const double fp32Bytes = 4.0 * double(c.parameterCount());
    std::cout << "model: " << c.parameterCount() / 1e6 << " M parameters (" << fp32Bytes / 1e9 << " GB in fp32), " << threads
              << " threads\n";

    {
        std::vector<uint8_t> a(static_cast<size_t>(fp32Bytes)), b(a.size());
        std::memset(a.data(), 1, a.size());
        std::memset(b.data(), 0, b.size()); // touch both before timing
        const auto t0 = std::chrono::steady_clock::now();
        std::memcpy(b.data(), a.data(), a.size());
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "memcpy of the fp32 weights: " << s << " s (" << fp32Bytes / s / 1e6 << " MB/s)\n";
    }

    std::stringstream list(types);
    std::string name;
    while (std::getline(list, name, ',')) {
        const auto type = tb::ggufFileTypeFromName(name);
        if (!type) {
            std::cerr << "unknown type " << name << "\n";
            return 2;
        }
        const std::string out = (root / (name + ".gguf")).string();
        tb::GgufExportOptions o;
        o.type = *type;
        o.threads = threads;
        const tb::GgufExportReport r = tb::exportGgufModel(model, "", out, o);
        std::cout << name << ": " << r.seconds << " s in all, " << r.bytes / 1e6 << " MB written, " << fp32Bytes / r.seconds / 1e6
                  << " MB/s of fp32 weights\n";
        fs::remove(out);
    }
    fs::remove_all(root);
    return 0;
}
