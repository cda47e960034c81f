// engine/ollama against real chat templates: the family recognized by rendering, and the Ollama
// TEMPLATE written for it, run by GoTemplate with Ollama's data model, producing exactly what the
// model's Jinja template renders (with its leading BOS removed, as llama.cpp and Ollama add BOS
// when tokenizing) for conversations with and without a system prompt. Also: templates no family
// reproduces, recognition that text cannot fool, the Modelfile text and its quoting, and
// GoTemplate's own known answers (Go text/template semantics).
//
// What cannot be checked against the Jinja rendering, and why:
//  - templates that refuse a system message (Gemma 2, Mistral v0.1/v0.2 original): the Jinja
//    template raises, so the Ollama fold of a SYSTEM has nothing to equal; checked that it raises
//    and that the fold puts the SYSTEM first in the first user turn.
//  - Llama 3.2's date line comes from strftime_now, today's date: the Ollama template holds the
//    date of the export; checked equal on the day of the test.
//  - tool definitions and tool calls, images and Qwen 3's reasoning: not in the Ollama templates.
#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "GoTemplate.h"
#include "chat/ChatTemplate.h"
#include "ollama/ChatFamily.h"
#include "ollama/OllamaChat.h"
#include "ollama/OllamaModelfile.h"

using nlohmann::json;
using tb::ChatMessage;
using tb::test::GoTemplate;

Q_DECLARE_METATYPE(std::string)

namespace {

const QString kDataDir = QStringLiteral(TB_TEST_DATA_DIR) + "/chat";

std::string readTemplate(const std::string& file)
{
    const std::string path = (kDataDir + "/").toStdString() + file;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The model's Jinja rendering without its leading BOS.
std::string renderJinja(const std::string& source, const std::vector<ChatMessage>& messages, bool generationPrompt,
                        const std::string& bos, const std::string& eos)
{
    std::string text = tb::ChatTemplate::compile(source, "chat_template").render(messages, generationPrompt, bos, eos);
    if (!bos.empty() && text.compare(0, bos.size(), bos) == 0)
        text.erase(0, bos.size());
    return text;
}

// What Ollama's chat handler renders: the Modelfile's SYSTEM prepended when the conversation has no
// system message (server/routes.go), .System the system messages joined by "\n\n" (template.go
// collate), .Messages as {Role, Content}. The conversations here never repeat a role back to back,
// so collate's merging of consecutive same-role messages does not arise.
std::string renderOllama(const std::string& goTemplate, std::vector<ChatMessage> messages,
                         const std::string& defaultSystem)
{
    if (!defaultSystem.empty() && (messages.empty() || messages.front().role != "system"))
        messages.insert(messages.begin(), ChatMessage{"system", defaultSystem});
    json data = {{"Messages", json::array()}, {"System", ""}, {"Prompt", ""}, {"Response", ""}, {"Tools", nullptr}};
    std::string system;
    for (const ChatMessage& m : messages) {
        data["Messages"].push_back({{"Role", m.role}, {"Content", m.content}});
        if (m.role == "system")
            system += (system.empty() ? "" : "\n\n") + m.content;
    }
    data["System"] = system;
    return GoTemplate::parse(goTemplate).execute(data);
}

// Contents unlike the recognition probes: quotes, braces that look like both template languages,
// a line break, non-ASCII. Trimmed, since several templates trim message content.
const ChatMessage kSystem{"system", "You are terse.\nAnswer in \"one\" line; {{ braces }} and {% tags %} stay text."};
const ChatMessage kUser1{"user", "Hello \xe2\x80\x94 what is 2+2?"};
const ChatMessage kAssistant1{"assistant", "4, as \"usual\"."};
const ChatMessage kUser2{"user", "And {{ .Content }} twice?\nSecond line."};

const std::vector<ChatMessage> kWithSystem{kSystem, kUser1, kAssistant1, kUser2};
const std::vector<ChatMessage> kWithoutSystem{kUser1, kAssistant1, kUser2};

struct RealTemplate {
    const char* file;
    const char* bos;
    const char* eos;
    const char* family;
    const char* defaultSystem;
    bool refusesSystem;
    // Qwen 3 writes an empty "<think>\n\n</think>\n\n" into an assistant turn that follows the last
    // user message, so an assistant message left open for the model to continue differs.
    bool continuationDiffers = false;
};

// Each real template of tests/data/chat that a family reproduces (sources in its README).
const RealTemplate kRealTemplates[] = {
    {"chatml.jinja", "", "<|im_end|>", "chatml", "", false},
    {"qwen25_instruct.jinja", "", "<|im_end|>", "chatml", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", false},
    {"smollm2_instruct.jinja", "", "<|im_end|>", "chatml", "You are a helpful AI assistant named SmolLM, trained by Hugging Face", false},
    {"qwen3.jinja", "", "<|im_end|>", "chatml", "", false, true},
    {"llama3_instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", "llama3", "", false},
    {"llama31_instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", "llama3", "", false},
    {"llama32_instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", "llama3", "", false},
    {"llama2_chat.jinja", "<s>", "</s>", "llama2", "", false},
    {"vigogne2_chat.jinja", "<s>", "</s>", "llama2",
     "Vous \xc3\xaates Vigogne, un assistant IA cr\xc3\xa9\xc3\xa9 par Zaion Lab. Vous suivez extr\xc3\xaamement bien "
     "les instructions. Aidez autant que vous le pouvez.", false},
    {"mistral_instruct_v03.jinja", "<s>", "</s>", "mistral", "", false},
    {"mistral_nemo_instruct_2407.jinja", "<s>", "</s>", "mistral", "", false},
    {"mistral_instruct_v1_system.jinja", "<s>", "</s>", "mistral", "", false},
    {"mistral_instruct_v02_nosystem.jinja", "<s>", "</s>", "mistral", "", true},
    {"zephyr_tinyllama.jinja", "<s>", "</s>", "zephyr", "", false},
    {"phi35_mini_instruct.jinja", "<s>", "<|endoftext|>", "phi3", "", false},
    {"phi3_small.jinja", "<|endoftext|>", "<|endoftext|>", "phi3", "", false},
    {"gemma2_it.jinja", "<bos>", "<eos>", "gemma", "", true},
    {"gemma3_it.jinja", "<bos>", "<eos>", "gemma", "", false},
};

tb::OllamaChat chatFor(const std::string& source, const std::string& bos, const std::string& eos)
{
    return tb::ollamaChatFor(tb::recognizeChatFamily(source, bos, eos));
}

} // namespace

void realTemplateRows()
{
    QTest::addColumn<int>("row");
    for (size_t i = 0; i < std::size(kRealTemplates); ++i)
        QTest::newRow(kRealTemplates[i].file) << static_cast<int>(i);
}

class TestOllamaModelfile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void goTemplateKnownAnswers_data();
    void goTemplateKnownAnswers();
    void goTemplateErrors_data();
    void goTemplateErrors();

    void recognizesRealTemplates_data() { realTemplateRows(); }
    void recognizesRealTemplates();
    void ollamaTemplateRendersAsJinja_data() { realTemplateRows(); }
    void ollamaTemplateRendersAsJinja();
    void refusedSystemIsFoldedIntoFirstUserTurn();

    void llama31PreambleIsWrittenVerbatim();
    void llama32DateIsNoted();
    void recognitionIgnoresTemplateText();
    void unrecognizedTemplates_data();
    void unrecognizedTemplates();

    void modelfileKnownAnswer();
    void modelfileUnrecognizedKnownAnswer();
    void modelfileQuoting();
    void stopsPerFamily();
};

// ---- GoTemplate: Go text/template semantics ----

void TestOllamaModelfile::goTemplateKnownAnswers_data()
{
    QTest::addColumn<std::string>("tmpl");
    QTest::addColumn<std::string>("data");
    QTest::addColumn<std::string>("expected");
    const std::string list = R"({"L": [{"V": "a"}, {"V": "b"}], "S": "s", "N": null, "E": [], "W": ["x", "y", "z"]})";
    QTest::newRow("field") << std::string("Hello, {{ .S }}!") << list << std::string("Hello, s!");
    QTest::newRow("trim markers") << std::string("a \n {{- .S -}} \n b") << list << std::string("asb");
    QTest::newRow("trim needs a space") << std::string("a {{-3}} {{.S}}") << list << std::string("a -3 s");
    QTest::newRow("comment") << std::string("a {{- /* note */ -}} b{{/* x */}}") << list << std::string("ab");
    QTest::newRow("if else if else")
        << std::string("{{ if .N }}n{{ else if .E }}e{{ else if .S }}s{{ else }}none{{ end }}") << list << std::string("s");
    QTest::newRow("truth of zero values")
        << std::string("{{ if 0 }}0{{ end }}{{ if \"\" }}1{{ end }}{{ if .E }}2{{ end }}{{ if .N }}3{{ end }}{{ if 7 }}ok{{ end }}")
        << list << std::string("ok");
    QTest::newRow("range with index") << std::string("{{ range $i, $m := .L }}{{ $i }}={{ $m.V }};{{ end }}") << list
                                      << std::string("0=a;1=b;");
    QTest::newRow("range dot and root") << std::string("{{ range .L }}{{ .V }}{{ $.S }}{{ end }}") << list
                                        << std::string("asbs");
    QTest::newRow("range else") << std::string("{{ range .E }}x{{ else }}empty{{ end }}") << list << std::string("empty");
    QTest::newRow("last idiom")
        << std::string("{{- range $i, $_ := .W }}{{ $last := eq (len (slice $.W $i)) 1 }}{{ . }}{{ if not $last }},{{ end }}{{ end }}")
        << list << std::string("x,y,z");
    QTest::newRow("range trims") << std::string("{{- range .W }}\n{{ . }}\n{{- end }}") << list << std::string("\nx\ny\nz");
    QTest::newRow("and or return operands")
        << std::string("{{ or \"\" \"x\" }}|{{ and \"a\" \"\" }}|{{ and 1 2 }}|{{ or 0 false }}|{{ or .S .Missing }}")
        << list << std::string("x||2|false|s");
    QTest::newRow("comparisons")
        << std::string("{{ eq .S \"t\" \"s\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}")
        << list << std::string("true true true true true false");
    QTest::newRow("string escapes") << std::string("{{ \"a\\n\\\"b\\\"\\x41\\u00e9\\t.\" }}|{{ `raw\\n` }}") << list
                                    << std::string("a\n\"b\"A\xc3\xa9\t.|raw\\n");
    QTest::newRow("declare and assign")
        << std::string("{{ $n := \"none\" }}{{ range .W }}{{ $n = . }}{{ end }}{{ $n }}") << list << std::string("z");
    QTest::newRow("scoped declaration") << std::string("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}")
                                        << list << std::string("21");
    QTest::newRow("len slice index pipe")
        << std::string("{{ len .W }} {{ slice .S 0 1 }} {{ len (slice .W 1) }} {{ (index .L 1).V }} {{ index .W 2 }} {{ .W | len }}")
        << list << std::string("3 s 2 b z 3");
    QTest::newRow("nil prints no value") << std::string("{{ .N }}") << list << std::string("<no value>");
    QTest::newRow("action inside string") << std::string("{{ \"}}\" }}{{ \"{{\" }}") << list << std::string("}}{{");
}

void TestOllamaModelfile::goTemplateKnownAnswers()
{
    QFETCH(std::string, tmpl);
    QFETCH(std::string, data);
    QFETCH(std::string, expected);
    QCOMPARE(GoTemplate::parse(tmpl).execute(json::parse(data)), expected);
}

void TestOllamaModelfile::goTemplateErrors_data()
{
    QTest::addColumn<std::string>("tmpl");
    QTest::newRow("missing field") << std::string("{{ .Missing }}");
    QTest::newRow("if without value") << std::string("{{ if }}x{{ end }}");
    QTest::newRow("unknown function") << std::string("{{ printf \"%s\" .S }}");
    QTest::newRow("stray end") << std::string("x{{ end }}");
    QTest::newRow("unclosed if") << std::string("{{ if .S }}x");
    QTest::newRow("unclosed action") << std::string("{{ .S ");
    QTest::newRow("incompatible eq") << std::string("{{ eq 1 \"1\" }}");
    QTest::newRow("variable out of scope") << std::string("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}");
    QTest::newRow("with unsupported") << std::string("{{ with .S }}x{{ end }}");
    QTest::newRow("argument to non-function") << std::string("{{ .S 1 }}");
}

void TestOllamaModelfile::goTemplateErrors()
{
    QFETCH(std::string, tmpl);
    bool threw = false;
    try {
        GoTemplate::parse(tmpl).execute(json::parse(R"({"S": "s"})"));
    } catch (const tb::test::GoTemplateError&) {
        threw = true;
    }
    QVERIFY2(threw, tmpl.c_str());
}

// ---- real templates ----

void TestOllamaModelfile::recognizesRealTemplates()
{
    QFETCH(int, row);
    const RealTemplate& t = kRealTemplates[row];
    const tb::ChatFamilyMatch match = tb::recognizeChatFamily(readTemplate(t.file), t.bos, t.eos);
    QVERIFY2(match.reason.empty(), match.reason.c_str());
    QCOMPARE(match.family, std::string(t.family));
    QCOMPARE(match.defaultSystem, std::string(t.defaultSystem));
    QCOMPARE(match.layout.systemPlacement == tb::SystemPlacement::Refused, t.refusesSystem);
}

void TestOllamaModelfile::ollamaTemplateRendersAsJinja()
{
    QFETCH(int, row);
    const RealTemplate& t = kRealTemplates[row];
    const std::string source = readTemplate(t.file);
    const tb::OllamaChat chat = chatFor(source, t.bos, t.eos);
    QVERIFY(chat.recognized);

    // System prompt, two user turns, then the generation prompt.
    if (t.refusesSystem) {
        QVERIFY_THROWS_EXCEPTION(tb::ChatTemplateError, renderJinja(source, kWithSystem, true, t.bos, t.eos));
    } else {
        QCOMPARE(renderOllama(chat.goTemplate, kWithSystem, chat.defaultSystem),
                 renderJinja(source, kWithSystem, true, t.bos, t.eos));
    }
    // No system prompt: the template's default system prompt, if any, comes back through SYSTEM.
    QCOMPARE(renderOllama(chat.goTemplate, kWithoutSystem, chat.defaultSystem),
             renderJinja(source, kWithoutSystem, true, t.bos, t.eos));
    QCOMPARE(renderOllama(chat.goTemplate, {kUser1}, chat.defaultSystem),
             renderJinja(source, {kUser1}, true, t.bos, t.eos));
    // A user's own system message replaces the default, as in the model's template.
    if (!t.refusesSystem) {
        const std::vector<ChatMessage> own{{"system", "Own prompt."}, kUser1};
        QCOMPARE(renderOllama(chat.goTemplate, own, chat.defaultSystem), renderJinja(source, own, true, t.bos, t.eos));
    }
    // Ending with an assistant message, Ollama leaves the turn open for the model to continue:
    // the Jinja rendering without generation prompt continues it with the end of the turn.
    if (t.continuationDiffers)
        return;
    const std::string open = renderOllama(chat.goTemplate, {kUser1, kAssistant1}, chat.defaultSystem);
    const std::string closed = renderJinja(source, {kUser1, kAssistant1}, false, t.bos, t.eos);
    QVERIFY2(closed.compare(0, open.size(), open) == 0, (open + "\n---\n" + closed).c_str());
    QVERIFY(open.size() > 0 && open.compare(open.size() - 2, 2, "\".") == 0);
}

void TestOllamaModelfile::refusedSystemIsFoldedIntoFirstUserTurn()
{
    const tb::OllamaChat gemma = chatFor(readTemplate("gemma2_it.jinja"), "<bos>", "<eos>");
    QCOMPARE(renderOllama(gemma.goTemplate, {{"system", "Be brief."}, {"user", "Hi"}}, ""),
             std::string("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"));
    QVERIFY(gemma.note.find("refuses a system message") != std::string::npos);

    const tb::OllamaChat mistral = chatFor(readTemplate("mistral_instruct_v02_nosystem.jinja"), "<s>", "</s>");
    QCOMPARE(renderOllama(mistral.goTemplate, {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}}, ""),
             std::string("[INST] Be brief.\n\nHi [/INST]Hello</s>[INST] Bye [/INST]"));
}

void TestOllamaModelfile::llama31PreambleIsWrittenVerbatim()
{
    const tb::ChatFamilyMatch match =
        tb::recognizeChatFamily(readTemplate("llama31_instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>");
    QCOMPARE(match.layout.systemPreamble, std::string("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"));
    QVERIFY(match.layout.systemTurnAlways);
    const tb::OllamaChat chat = tb::ollamaChatFor(match);
    QCOMPARE(renderOllama(chat.goTemplate, {{"user", "Hi"}}, ""),
             std::string("<|start_header_id|>system<|end_header_id|>\n\n"
                         "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n"));
    QVERIFY(chat.note.find("today's date") == std::string::npos);
}

void TestOllamaModelfile::llama32DateIsNoted()
{
    const tb::OllamaChat chat = chatFor(readTemplate("llama32_instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>");
    QVERIFY2(chat.note.find("today's date") != std::string::npos, chat.note.c_str());
}

void TestOllamaModelfile::recognitionIgnoresTemplateText()
{
    // Talks about ChatML, renders Llama 3.
    const std::string llama3 =
        "{#- A ChatML template: <|im_start|>user\\n...<|im_end|> -#}\n"
        "{%- if false %}<|im_start|>system{% endif %}"
        "{%- for m in messages %}{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}{% endfor %}"
        "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    QCOMPARE(tb::recognizeChatFamily(llama3, "", "").family, std::string("llama3"));
    // Talks about Llama 3 and [INST], renders ChatML.
    const std::string chatml =
        "{#- <|start_header_id|> [INST] <<SYS>> <start_of_turn> -#}\n"
        "{%- for m in messages %}{{ '<|im_start|>' ~ m['role'] ~ '\\n' ~ m['content'] ~ '<|im_end|>\\n' }}{% endfor %}"
        "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    QCOMPARE(tb::recognizeChatFamily(chatml, "", "").family, std::string("chatml"));
}

void TestOllamaModelfile::unrecognizedTemplates_data()
{
    QTest::addColumn<std::string>("source");
    QTest::addColumn<std::string>("reasonHas");
    QTest::newRow("constructs.jinja") << readTemplate("constructs.jinja") << std::string("nearest is");
    // Phi-3-mini's original template drops the system message: no family does that.
    QTest::newRow("phi3_mini_original.jinja") << readTemplate("phi3_mini_original.jinja") << std::string("nearest is Phi-3");
    QTest::newRow("made-up layout")
        << std::string("{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}### assistant:{% endif %}")
        << std::string("probe \"system, user, assistant, user\": at byte 0");
    QTest::newRow("raises") << std::string("{{ raise_exception('Tunebench probes are not welcome') }}")
                            << std::string("Tunebench probes are not welcome");
    QTest::newRow("syntax error") << std::string("{% for m in messages %}") << std::string("does not compile");
}

void TestOllamaModelfile::unrecognizedTemplates()
{
    QFETCH(std::string, source);
    QFETCH(std::string, reasonHas);
    const tb::ChatFamilyMatch match = tb::recognizeChatFamily(source, "<s>", "</s>");
    QCOMPARE(match.family, std::string());
    QVERIFY2(match.reason.find(reasonHas) != std::string::npos, match.reason.c_str());

    const tb::OllamaChat chat = tb::ollamaChatFor(match);
    QVERIFY(!chat.recognized);
    QVERIFY(chat.goTemplate.empty());
    const std::string modelfile = tb::modelfileText("model.gguf", "", chat);
    QVERIFY(modelfile.find("\nTEMPLATE") == std::string::npos);
    QVERIFY(modelfile.find("tokenizer.chat_template") != std::string::npos);
    QVERIFY(modelfile.find("# Reason: ") != std::string::npos);
}

// ---- the Modelfile ----

void TestOllamaModelfile::modelfileKnownAnswer()
{
    const tb::OllamaChat chat = chatFor(readTemplate("qwen25_instruct.jinja"), "", "<|im_end|>");
    const std::string expected = R"(# Ollama Modelfile written by Tunebench. Create the model from this folder with:
#   ollama create <name> -f Modelfile
FROM ./qwen2.5-7b-Q8_0.gguf
ADAPTER ./adapter.gguf

# Chat template: ChatML, recognized by rendering the model's Jinja chat template.
TEMPLATE """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}
{{- if or (ne .Role "assistant") (not $last) }}<|im_end|>
{{ end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""
PARAMETER stop "<|im_start|>"
PARAMETER stop "<|im_end|>"
SYSTEM """You are Qwen, created by Alibaba Cloud. You are a helpful assistant."""
)";
    QCOMPARE(tb::modelfileText("qwen2.5-7b-Q8_0.gguf", "adapter.gguf", chat), expected);
}

void TestOllamaModelfile::modelfileUnrecognizedKnownAnswer()
{
    tb::ChatFamilyMatch match;
    match.reason = "the template raises on the probe conversation \"user\": no\nsecond line";
    const std::string expected = R"(# Ollama Modelfile written by Tunebench. Create the model from this folder with:
#   ollama create <name> -f Modelfile
FROM "./my model.gguf"

# No TEMPLATE: the model's chat template was not recognized as one of the families
# Tunebench writes an Ollama template for. The original Jinja template is embedded in
# the GGUF (tokenizer.chat_template), which llama.cpp's server and LM Studio use;
# Ollama picks one of its own templates by comparing it with that one.
# Reason: the template raises on the probe conversation "user": no
# second line
)";
    QCOMPARE(tb::modelfileText("my model.gguf", "", tb::ollamaChatFor(match)), expected);
}

void TestOllamaModelfile::modelfileQuoting()
{
    std::string why;
    QVERIFY(tb::modelfileQuotable("plain \"quoted\" text\nsecond line\twith tab"));
    QVERIFY(tb::modelfileQuotable("\"\"\""));                 // closing quotes follow directly
    QVERIFY(tb::modelfileQuotable("a\"\"\"b\nc"));            // """ not at a line end
    QVERIFY(!tb::modelfileQuotable("a\"\"\"\nb", &why));      // would close the value early
    QVERIFY(why.find("ends with") != std::string::npos);
    QVERIFY(!tb::modelfileQuotable("a\"\"\"  \r\nb"));        // trailing blanks are trimmed first
    QVERIFY(!tb::modelfileQuotable("bell\x07", &why));        // dropped by the parser
    QVERIFY(why.find("U+0007") != std::string::npos);
    QVERIFY(!tb::modelfileQuotable("no\xc2\xa0" "break"));    // U+00A0 is not IsPrint
    QVERIFY(!tb::modelfileQuotable("bad \xff byte"));
    QVERIFY(tb::modelfileQuotable("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x99\x82"));

    // A default system prompt that cannot be quoted is left out, with a comment.
    tb::ChatFamilyMatch match = tb::recognizeChatFamily(readTemplate("chatml.jinja"), "", "<|im_end|>");
    match.defaultSystem = "Say \"\"\"\nthen stop.";
    const std::string text = tb::modelfileText("m.gguf", "", tb::ollamaChatFor(match));
    QVERIFY(text.find("\nSYSTEM") == std::string::npos);
    QVERIFY(text.find("# No SYSTEM: ") != std::string::npos);

    const tb::OllamaChat chat = tb::ollamaChatFor(match);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::modelfileText("bad\"name.gguf", "", chat));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::modelfileText("m.gguf", "a\nb.gguf", chat));
    QVERIFY(tb::modelfileText("/abs/m.gguf", "../a.gguf", chat).find("FROM /abs/m.gguf\nADAPTER ../a.gguf\n") !=
            std::string::npos);

    // Text of the model's that Go would read as an action is written as a Go string.
    tb::ChatFamilyMatch braces = tb::recognizeChatFamily(readTemplate("llama31_instruct.jinja"), "", "<|eot_id|>");
    braces.layout.systemPreamble = "Use {{ and }} freely.\n";
    const tb::OllamaChat bracesChat = tb::ollamaChatFor(braces);
    QCOMPARE(renderOllama(bracesChat.goTemplate, {{"system", "S"}, {"user", "U"}}, ""),
             std::string("<|start_header_id|>system<|end_header_id|>\n\nUse {{ and }} freely.\nS<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\n"));
}

void TestOllamaModelfile::stopsPerFamily()
{
    using Stops = std::vector<std::string>;
    QCOMPARE(chatFor(readTemplate("llama31_instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>").stops,
             (Stops{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}));
    QCOMPARE(chatFor(readTemplate("llama2_chat.jinja"), "<s>", "</s>").stops,
             (Stops{"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "</s>"}));
    QCOMPARE(chatFor(readTemplate("mistral_instruct_v03.jinja"), "<s>", "</s>").stops, (Stops{"[INST]", "[/INST]", "</s>"}));
    QCOMPARE(chatFor(readTemplate("zephyr_tinyllama.jinja"), "<s>", "</s>").stops,
             (Stops{"<|system|>", "<|user|>", "<|assistant|>", "</s>"}));
    QCOMPARE(chatFor(readTemplate("phi35_mini_instruct.jinja"), "<s>", "<|endoftext|>").stops,
             (Stops{"<|end|>", "<|user|>", "<|assistant|>", "<|endoftext|>"}));
    QCOMPARE(chatFor(readTemplate("gemma3_it.jinja"), "<bos>", "<eos>").stops,
             (Stops{"<start_of_turn>", "<end_of_turn>", "<eos>"}));
}

QTEST_GUILESS_MAIN(TestOllamaModelfile)
#include "tst_ollamamodelfile.moc"
