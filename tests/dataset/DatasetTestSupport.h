// Shared pieces of the dataset tests: a small byte-level BPE tokenizer trained on the fixture
// texts with Llama 3 / ChatML special tokens, tokenizer configs with and without a ChatML
// template, files written into a temporary folder, and decoding of the loss-masked runs.
#pragma once

#include "data/TrainingDataset.h"
#include "tokenizer/BpeTrainer.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <string>
#include <vector>

namespace tbtest {

inline const std::string kBos = "<|begin_of_text|>";
inline const std::string kEos = "<|end_of_text|>";

// ChatML as Qwen 2 writes it, minus the default system prompt.
inline const std::string kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Llama 3's template reduced to its message loop (no tools, no date): writes bos_token itself
// and trims contents.
inline const std::string kLlama3 =
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

// Mistral v0.1's template: roles must alternate (raise_exception otherwise), eos after replies.
inline const std::string kMistral =
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% endif %}{% endfor %}";

inline tb::Tokenizer makeTokenizer()
{
    const std::vector<std::string> texts = {
        "The river runs past the old mill, where the stones are worn smooth by a hundred years of water. "
        "Children come in summer to throw bread to the ducks.",
        "In winter the mill is quiet. Snow lies on the roof and the wheel stands still until the thaw.",
        "A small boat is tied to the jetty. Nobody remembers who owns it.",
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
        "### Instruction:\n### Input:\n### Response:\nuser\nassistant\nsystem\nYou answer briefly. Where is the mill? By the river.",
    };
    const std::string json = tb::trainByteLevelBpeTokenizerJson(
        texts, 700, {kBos, kEos, "<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}, kBos);
    return tb::Tokenizer::fromJson(json, "test tokenizer.json");
}

inline tb::TokenizerConfig makeConfig(const std::string& chatTemplate)
{
    tb::TokenizerConfig config;
    config.bosToken = kBos;
    config.eosToken = kEos;
    config.chatTemplate = chatTemplate;
    return config;
}

// Writes `bytes` to dir/name and returns the path.
inline std::string writeFile(const QTemporaryDir& dir, const QString& name, const std::string& bytes)
{
    const QString path = dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    file.write(bytes.data(), qint64(bytes.size()));
    return path.toStdString();
}

inline std::string fixture(const char* name)
{
    return std::string(TB_TEST_DATA_DIR) + "/datasets/" + name;
}

// Each maximal run of loss-mask-1 tokens, decoded with special tokens kept.
inline std::vector<std::string> targetRuns(const tb::Tokenizer& tokenizer, const tb::TokenizedExample& example)
{
    std::vector<std::string> runs;
    std::vector<int32_t> run;
    for (size_t i = 0; i <= example.ids.size(); ++i) {
        if (i < example.ids.size() && example.lossMask[i]) {
            run.push_back(example.ids[i]);
        } else if (!run.empty()) {
            runs.push_back(tokenizer.decode(run, false));
            run.clear();
        }
    }
    return runs;
}

inline std::string decodeAll(const tb::Tokenizer& tokenizer, const tb::TokenizedExample& example)
{
    return tokenizer.decode(example.ids, false);
}

inline int64_t countOnes(const std::vector<uint8_t>& mask)
{
    int64_t n = 0;
    for (uint8_t m : mask)
        n += m;
    return n;
}

} // namespace tbtest
