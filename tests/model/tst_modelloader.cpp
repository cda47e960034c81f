// Loading Hugging Face model folders written to disk: round trip, dtype conversion, sharded
// checkpoints, and each way a folder can be wrong.
#include "TestModels.h"

#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"
#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"

#include <torch/cuda.h>

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace tb;
namespace fs = std::filesystem;

namespace {

std::string writeModel(const QTemporaryDir& tmp, const std::string& flavour, at::ScalarType dtype = at::kFloat)
{
    const std::string dir = tmp.filePath(QString::fromStdString(flavour)).toStdString();
    LlamaForCausalLM m(tbtest::tinyConfig(flavour), at::TensorOptions().dtype(at::kFloat));
    m.initializeRandom(11, 0.2);
    saveModelFolder(m, dir, dtype);
    return dir;
}

// Rewrites dir/model.safetensors through `edit`, which may add, drop or replace tensors.
void rewriteWeights(const std::string& dir, const std::function<void(std::map<std::string, at::Tensor>&)>& edit)
{
    std::map<std::string, at::Tensor> tensors;
    {
        SafetensorsReader reader(dir + "/model.safetensors");
        for (const auto& info : reader.tensors())
            tensors[info.name] = readTensor(reader, info);
    }
    edit(tensors);
    SafetensorsWriter writer;
    for (const auto& [name, t] : tensors)
        addTensor(writer, name, t);
    writer.write(dir + "/model.safetensors");
}

QString loadError(const std::string& dir)
{
    try {
        loadModel(dir);
    } catch (const FormatError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

at::Tensor logitsOf(LlamaForCausalLM& m)
{
    at::NoGradGuard g;
    return m.forward(at::arange(0, 9, at::kLong).view({1, -1})).to(at::kFloat);
}

} // namespace

class TestModelLoader : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTripIsExact_data()
    {
        QTest::addColumn<QString>("flavour");
        for (const char* f : tbtest::kTinyFlavours)
            QTest::newRow(f) << QString(f);
    }

    void roundTripIsExact()
    {
        QFETCH(QString, flavour);
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, flavour.toStdString());
        LlamaForCausalLM original(tbtest::tinyConfig(flavour.toStdString()), at::TensorOptions().dtype(at::kFloat));
        original.initializeRandom(11, 0.2);
        LoadOptions options;
        options.dtype = at::kFloat;
        LoadedModel loaded = loadModel(dir, options);
        QVERIFY(loaded.warnings.empty());
        QCOMPARE(loaded.config.parameterCount(), original.config().parameterCount());
        auto mine = loaded.model->named_parameters(true);
        for (const auto& item : original.named_parameters(true))
            QVERIFY2(at::equal(item.value(), mine[item.key()]), item.key().c_str());
        const double diff = (logitsOf(original) - logitsOf(*loaded.model)).abs().max().item<double>();
        QVERIFY2(diff == 0.0, qPrintable(QString("max logit difference %1").arg(diff)));
        for (const auto& p : loaded.model->parameters())
            QVERIFY(!p.requires_grad()); // frozen until a trainer says otherwise
    }

    void convertsDtypeOnLoad()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama", at::kFloat);
        LoadedModel bf16 = loadModel(dir); // default: bf16
        QCOMPARE(bf16.model->model->embed_tokens->weight.scalar_type(), at::kBFloat16);
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel full = loadModel(dir, fp32);
        const at::Tensor a = logitsOf(*full.model), b = logitsOf(*bf16.model);
        QVERIFY(((a - b).norm() / a.norm()).item<double>() < 0.05);
        // A bf16 checkpoint loads into fp32 exactly.
        const std::string dir16 = writeModel(tmp, "qwen2", at::kBFloat16);
        LoadedModel up = loadModel(dir16, fp32);
        SafetensorsReader reader(dir16 + "/model.safetensors");
        const auto* info = reader.find("model.layers.1.mlp.up_proj.weight");
        QVERIFY(info && info->dtype == DType::BF16);
        QVERIFY(at::equal(readTensor(reader, *info).to(at::kFloat), up.model->model->layers[1]->mlp->up_proj->named_parameters()["weight"]));
    }

    void loadsShardedCheckpoints()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        std::map<std::string, at::Tensor> all;
        {
            SafetensorsReader reader(dir + "/model.safetensors");
            for (const auto& info : reader.tensors())
                all[info.name] = readTensor(reader, info);
        }
        fs::remove(dir + "/model.safetensors");
        SafetensorsWriter first, second;
        std::string index = "{\"metadata\": {}, \"weight_map\": {";
        bool comma = false;
        for (const auto& [name, t] : all) {
            const bool inFirst = name.find("layers.1.") == std::string::npos;
            addTensor(inFirst ? first : second, name, t);
            index += std::string(comma ? ", " : "") + "\"" + name + "\": \"" + (inFirst ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") + "\"";
            comma = true;
        }
        index += "}}";
        first.write(dir + "/model-00001-of-00002.safetensors");
        second.write(dir + "/model-00002-of-00002.safetensors");
        std::ofstream(dir + "/model.safetensors.index.json") << index;
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel loaded = loadModel(dir, fp32);
        QVERIFY(at::equal(loaded.model->model->layers[1]->mlp->down_proj->named_parameters()["weight"],
                          all["model.layers.1.mlp.down_proj.weight"]));
    }

    void missingTensorIsNamed()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        rewriteWeights(dir, [](auto& t) { t.erase("model.layers.1.self_attn.v_proj.weight"); });
        const QString e = loadError(dir);
        QVERIFY2(e.contains("model.layers.1.self_attn.v_proj.weight") && e.contains("missing"), qPrintable(e));
    }

    void wrongShapeIsNamed()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        rewriteWeights(dir, [](auto& t) { t["model.layers.0.mlp.up_proj.weight"] = at::zeros({48, 31}); });
        const QString e = loadError(dir);
        QVERIFY2(e.contains("model.safetensors") && e.contains("model.layers.0.mlp.up_proj.weight")
                     && e.contains("[48, 31]") && e.contains("[48, 32]"),
                 qPrintable(e));
    }

    void wrongDtypeIsNamed()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        rewriteWeights(dir, [](auto& t) { t["model.norm.weight"] = at::ones({32}, at::kInt); });
        const QString e = loadError(dir);
        QVERIFY2(e.contains("model.norm.weight") && e.contains("I32"), qPrintable(e));
    }

    void extraTensorsWarn()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama-tied");
        rewriteWeights(dir, [](auto& t) {
            t["model.layers.0.self_attn.rotary_emb.inv_freq"] = at::ones({4}); // old exports: ignored silently
            t["lm_head.weight"] = t["model.embed_tokens.weight"].clone();     // tied copy: ignored silently
            t["model.layers.0.extra.weight"] = at::ones({2});
        });
        LoadedModel loaded = loadModel(dir);
        QCOMPARE(int(loaded.warnings.size()), 1);
        QVERIFY(QString::fromStdString(loaded.warnings[0]).contains("model.layers.0.extra.weight"));
    }

    void unusedModelTensorsAreErrors_data()
    {
        QTest::addColumn<QString>("flavour");
        QTest::addColumn<QString>("tensor");
        QTest::addColumn<QString>("reason");
        // attention_bias false: transformers' Llama would leave an o_proj.bias out and compute
        // another function than the checkpoint's author trained.
        QTest::newRow("llama o_proj.bias") << "llama" << "model.layers.1.self_attn.o_proj.bias" << "attention_bias is false";
        QTest::newRow("llama q_proj.bias") << "llama" << "model.layers.0.self_attn.q_proj.bias" << "attention_bias is false";
        QTest::newRow("qwen2 o_proj.bias") << "qwen2" << "model.layers.0.self_attn.o_proj.bias" << "Qwen2Attention has no o_proj bias";
        QTest::newRow("mistral k_proj.bias") << "mistral-window" << "model.layers.0.self_attn.k_proj.bias" << "MistralAttention";
        QTest::newRow("llama q_norm") << "llama" << "model.layers.0.self_attn.q_norm.weight" << "Qwen3";
        QTest::newRow("mlp bias") << "qwen3" << "model.layers.0.mlp.up_proj.bias" << "no MLP biases";
        QTest::newRow("layer past the config") << "llama" << "model.layers.2.mlp.up_proj.weight" << "num_hidden_layers is 2";
        QTest::newRow("lm_head bias") << "llama" << "lm_head.bias" << "no such parameter";
    }

    void unusedModelTensorsAreErrors()
    {
        QFETCH(QString, flavour);
        QFETCH(QString, tensor);
        QFETCH(QString, reason);
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, flavour.toStdString());
        rewriteWeights(dir, [&](auto& t) { t[tensor.toStdString()] = at::ones({32}); });
        const QString e = loadError(dir);
        QVERIFY2(e.contains("\"" + tensor + "\"") && e.contains(reason), qPrintable(e));
    }

    void configWarningsReachTheLoader()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        std::string config;
        {
            std::ifstream in(dir + "/config.json");
            config.assign(std::istreambuf_iterator<char>(in), {});
        }
        config.insert(config.rfind('}'), ", \"rope_fudge\": 3");
        std::ofstream(dir + "/config.json", std::ios::trunc) << config;
        LoadedModel loaded = loadModel(dir);
        QCOMPARE(int(loaded.warnings.size()), 1);
        QVERIFY2(loaded.warnings[0].find("\"rope_fudge\"") != std::string::npos
                     && loaded.warnings[0].find("LlamaConfig") != std::string::npos,
                 loaded.warnings[0].c_str());
        // A refused value names the key and the value.
        config.insert(config.rfind('}'), ", \"attention_dropout\": 0.1");
        std::ofstream(dir + "/config.json", std::ios::trunc) << config;
        const QString e = loadError(dir);
        QVERIFY2(e.contains("\"attention_dropout\"") && e.contains("0.1"), qPrintable(e));
    }

    void tiedLmHeadThatDiffersWarns()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama-tied");
        rewriteWeights(dir, [](auto& t) { t["lm_head.weight"] = t["model.embed_tokens.weight"] * 2; });
        LoadedModel loaded = loadModel(dir);
        QCOMPARE(int(loaded.warnings.size()), 1);
        QVERIFY(loaded.warnings[0].find("tie_word_embeddings") != std::string::npos);
    }

    void badFolders()
    {
        QTemporaryDir tmp;
        QVERIFY(loadError(tmp.filePath("nothing-here").toStdString()).contains("not a folder"));
        const std::string dir = writeModel(tmp, "llama");
        fs::remove(dir + "/model.safetensors");
        std::ofstream(dir + "/pytorch_model.bin") << "pickle";
        const QString pickle = loadError(dir);
        QVERIFY2(pickle.contains("pickle") && pickle.contains("safetensors"), qPrintable(pickle));
        std::ofstream(dir + "/config.json") << R"({"architectures": ["GPTNeoXForCausalLM"]})";
        QVERIFY(loadError(dir).contains("GPTNeoXForCausalLM"));
        fs::remove(dir + "/config.json");
        QVERIFY(loadError(dir).contains("config.json"));
    }

    void truncatedCheckpointIsRefused()
    {
        QTemporaryDir tmp;
        const std::string dir = writeModel(tmp, "llama");
        fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") - 100);
        const QString e = loadError(dir);
        QVERIFY2(e.contains("model.safetensors"), qPrintable(e));
    }

    void devicesAreChecked()
    {
        QVERIFY(parseDevice("cpu").is_cpu());
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, parseDevice("gpu"));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, parseDevice("cuda:x"));
        if (!torch::cuda::is_available())
            QVERIFY_THROWS_EXCEPTION(std::invalid_argument, parseDevice("cuda:0"));
    }
};

QTEST_GUILESS_MAIN(TestModelLoader)
#include "tst_modelloader.moc"
