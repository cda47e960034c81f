// AdapterExport on the tiny demo model and a PEFT adapter with non-zero B: the PEFT copy is
// byte-identical and loads to the same logits; the merged folder's logits equal base +
// adapter (fp32 exactly up to rounding, bf16 within its precision); a non-empty destination
// and folders that are not adapters are refused with the file named, and leave nothing behind.
#include "formats/FormatError.h"
#include "demo/DemoModelMaker.h"
#include "lora/AdapterExport.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

using namespace tb;
namespace fs = std::filesystem;

namespace {

std::string fileBytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

QString errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

// Everything in a folder, names only (hidden staging folders included).
QStringList entriesOf(const fs::path& dir)
{
    QStringList names;
    for (const auto& e : fs::directory_iterator(dir))
        names << QString::fromStdString(e.path().filename().string());
    names.sort();
    return names;
}

// Logits in double of a short fixed input, on the model as loaded (fp32).
at::Tensor logitsOf(LlamaForCausalLM& m)
{
    m.eval();
    at::NoGradGuard g;
    return m.forward(at::arange(5, 37, at::kLong).view({1, -1})).to(at::kDouble);
}

double maxAbs(const at::Tensor& t) { return t.abs().max().item<double>(); }

} // namespace

class TestAdapterExport : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    std::string m_model, m_adapter;
    at::Tensor m_base, m_withAdapter; // fp32 logits of the base and of base + adapter

    std::string path(const char* name) const { return m_tmp.filePath(name).toStdString(); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_model = path("demo");
        makeDemoModel(m_model, "tiny", 0);

        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel loaded = loadModel(m_model, fp32);
        m_base = logitsOf(*loaded.model);
        LoraSettings s;
        s.rank = 4;
        s.alpha = 8;
        s.targets = {"q_proj", "v_proj", "down_proj"};
        applyLora(*loaded.model, s, 1);
        {
            at::NoGradGuard g;
            at::manual_seed(7);
            for (const auto& ref : loraLayers(*loaded.model))
                ref.layer->lora_B->weight.normal_(0, 0.05); // B is zero after applyLora
        }
        m_withAdapter = logitsOf(*loaded.model);
        m_adapter = path("adapter");
        savePeftAdapter(*loaded.model, s, m_model, m_adapter);
        QVERIFY2(maxAbs(m_withAdapter - m_base) > 0.05, "the adapter must change the logits for these checks to mean anything");
    }

    void peftExportIsAnIdenticalLoadableCopy()
    {
        const fs::path out = path("exports/peft"); // parent does not exist yet
        std::vector<double> fractions;
        const auto copied = exportPeftAdapter(m_adapter, out.string(), [&](double f, const std::string&) { fractions.push_back(f); });
        QCOMPARE(copied, (std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"}));
        QCOMPARE(entriesOf(out), QStringList({"adapter_config.json", "adapter_model.safetensors"}));
        QCOMPARE(entriesOf(out.parent_path()), QStringList({"peft"})); // no staging folder left
        for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
            QVERIFY2(fileBytes(out / f) == fileBytes(fs::path(m_adapter) / f), f);
        QVERIFY(!fractions.empty());
        QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));
        QCOMPARE(fractions.back(), 1.0);

        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel loaded = loadModel(m_model, fp32);
        loadPeftAdapter(*loaded.model, out.string());
        QCOMPARE(maxAbs(logitsOf(*loaded.model) - m_withAdapter), 0.0);
    }

    void anEmptyExistingDestinationIsUsed()
    {
        const fs::path out = path("empty-dest");
        fs::create_directories(out);
        exportPeftAdapter(m_adapter, out.string() + "/"); // trailing slash too
        QCOMPARE(entriesOf(out), QStringList({"adapter_config.json", "adapter_model.safetensors"}));
    }

    void mergedExportEqualsBasePlusAdapter_data()
    {
        QTest::addColumn<QString>("dtype");
        QTest::addColumn<double>("tolerance"); // relative to the largest logit
        QTest::newRow("fp32") << "float32" << 1e-4;
        // bf16 keeps 8 significant bits: each merged weight is off by up to 2^-9 relative.
        QTest::newRow("bf16") << "bfloat16" << 2e-2;
    }

    void mergedExportEqualsBasePlusAdapter()
    {
        QFETCH(QString, dtype);
        QFETCH(double, tolerance);
        const fs::path out = path(("merged-" + dtype).toUtf8().constData());
        QStringList stages;
        const at::ScalarType stored = exportMergedModel(m_model, m_adapter, out.string(), scalarTypeFromName(dtype.toStdString()),
                                                        [&](double, const std::string& stage) { stages << QString::fromStdString(stage); });
        QCOMPARE(QString(scalarTypeName(stored)), dtype);
        QVERIFY2(stages.contains("loading the base model (fp32)") && stages.contains("merging the adapter into the weights"),
                 qPrintable(stages.join(" | ")));
        QCOMPARE(stages.last(), QString("done"));
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
            QVERIFY2(fs::exists(out / f), f);
        QVERIFY2(fileBytes(out / "tokenizer.json") == fileBytes(fs::path(m_model) / "tokenizer.json"), "tokenizer.json copied");
        const auto config = nlohmann::json::parse(fileBytes(out / "config.json"));
        QCOMPARE(QString::fromStdString(config["torch_dtype"].get<std::string>()), dtype);

        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel merged = loadModel(out.string(), fp32);
        QVERIFY(loraLayers(*merged.model).empty());
        const at::Tensor logits = logitsOf(*merged.model);
        const double err = maxAbs(logits - m_withAdapter);
        const double scale = maxAbs(m_withAdapter);
        qInfo("%s: max |merged - (base + adapter)| = %g, max |logit| = %g, max |adapter effect| = %g", qPrintable(dtype), err, scale,
              maxAbs(m_withAdapter - m_base));
        QVERIFY2(err <= tolerance * scale, qPrintable(QString("max |merged - (base + adapter)| = %1, logits up to %2").arg(err).arg(scale)));
        // Closer to base + adapter than the base alone is: the adapter really is in the weights.
        QVERIFY2(err < 0.25 * maxAbs(m_withAdapter - m_base), qPrintable(QString::number(err)));
    }

    void mergedExportKeepsTheBaseDtypeByDefault()
    {
        const fs::path out = path("merged-default");
        QCOMPARE(exportMergedModel(m_model, m_adapter, out.string()), at::kBFloat16); // the demo model is stored in bf16
        QCOMPARE(QString::fromStdString(nlohmann::json::parse(fileBytes(out / "config.json"))["torch_dtype"].get<std::string>()),
                 QString("bfloat16"));
    }

    void nonEmptyDestinationIsRefusedAndUntouched()
    {
        const fs::path out = path("occupied");
        fs::create_directories(out);
        std::ofstream(out / "keep.txt") << "mine";
        for (int merged = 0; merged < 2; ++merged) {
            const QString error = errorOf([&] {
                if (merged)
                    exportMergedModel(m_model, m_adapter, out.string());
                else
                    exportPeftAdapter(m_adapter, out.string());
            });
            QVERIFY2(error.contains(QString::fromStdString(out.string())) && error.contains("not empty"), qPrintable(error));
            QCOMPARE(entriesOf(out), QStringList({"keep.txt"}));
            QCOMPARE(QString::fromStdString(fileBytes(out / "keep.txt")), QString("mine"));
        }
        // A file where the folder should go.
        const fs::path file = path("a-file");
        std::ofstream(file) << "x";
        const QString error = errorOf([&] { exportPeftAdapter(m_adapter, file.string()); });
        QVERIFY2(error.contains(QString::fromStdString(file.string())) && error.contains("not a folder"), qPrintable(error));
    }

    void aFolderThatIsNotAnAdapterIsRefusedByName()
    {
        const fs::path parent = path("refusals");
        fs::create_directories(parent);
        const std::string out = (parent / "out").string();
        auto refusal = [&](const std::string& adapterDir) {
            const QString error = errorOf([&] { exportPeftAdapter(adapterDir, out); });
            const QString mergedError = errorOf([&] { exportMergedModel(m_model, adapterDir, out); });
            if (error != mergedError)
                return QString("PEFT and merged exports disagree: %1 / %2").arg(error, mergedError);
            if (!entriesOf(parent).isEmpty())
                return QString("left behind: ") + entriesOf(parent).join(", ");
            return error;
        };

        // A model folder, not an adapter.
        QString e = refusal(m_model);
        QVERIFY2(e.contains(QString::fromStdString(m_model + "/adapter_config.json")), qPrintable(e));

        auto copyOfAdapter = [&](const char* name) {
            const fs::path dir = path(name);
            fs::create_directories(dir);
            for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
                fs::copy_file(fs::path(m_adapter) / f, dir / f);
            return dir;
        };
        // No weights file.
        const fs::path noWeights = copyOfAdapter("no-weights");
        fs::remove(noWeights / "adapter_model.safetensors");
        e = refusal(noWeights.string());
        QVERIFY2(e.contains(QString::fromStdString((noWeights / "adapter_model.safetensors").string())) && e.contains("missing"), qPrintable(e));

        // A truncated weights file.
        const fs::path truncated = copyOfAdapter("truncated");
        fs::resize_file(truncated / "adapter_model.safetensors", fs::file_size(truncated / "adapter_model.safetensors") / 2);
        e = refusal(truncated.string());
        QVERIFY2(e.contains(QString::fromStdString((truncated / "adapter_model.safetensors").string())), qPrintable(e));

        // Weights for a module the config does not list, and a listed target without weights.
        auto withTargets = [&](const char* name, const nlohmann::json& targets) {
            const fs::path dir = copyOfAdapter(name);
            auto j = nlohmann::json::parse(fileBytes(dir / "adapter_config.json"));
            j["target_modules"] = targets;
            std::ofstream(dir / "adapter_config.json", std::ios::trunc) << j.dump(2);
            return refusal(dir.string());
        };
        e = withTargets("fewer-targets", {"q_proj", "v_proj"});
        QVERIFY2(e.contains("adapter_model.safetensors") && e.contains("mlp.down_proj.lora_A.weight") && e.contains("target_modules"),
                 qPrintable(e));
        e = withTargets("more-targets", {"q_proj", "v_proj", "down_proj", "k_proj"});
        QVERIFY2(e.contains("adapter_model.safetensors") && e.contains("\"k_proj\""), qPrintable(e));

        // A config whose rank does not match the weights.
        const fs::path wrongRank = copyOfAdapter("wrong-rank");
        auto j = nlohmann::json::parse(fileBytes(wrongRank / "adapter_config.json"));
        j["r"] = 8;
        std::ofstream(wrongRank / "adapter_config.json", std::ios::trunc) << j.dump(2);
        e = refusal(wrongRank.string());
        QVERIFY2(e.contains("adapter_model.safetensors") && e.contains("r=8") && e.contains("[4, "), qPrintable(e));

        // Not a folder at all.
        e = refusal(path("nowhere"));
        QVERIFY2(e.contains(QString::fromStdString(path("nowhere"))) && e.contains("not a folder"), qPrintable(e));
    }
};

QTEST_MAIN(TestAdapterExport)
#include "tst_adapterexport.moc"
