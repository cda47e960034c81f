// prepareDataset: read -> detect format -> render + tokenize each record (skipping bad ones with
// a warning) -> split -> statistics -> pack. The steps live in DatasetReader, ExampleRenderer,
// SegmentEncoder, DatasetSplitter, DatasetStatsBuilder and SequencePacker.
#include "data/TrainingDataset.h"

#include "formats/FormatError.h"
#include "data/DatasetReader.h"
#include "data/DatasetSplitter.h"
#include "data/DatasetStatsBuilder.h"
#include "data/ExampleRenderer.h"
#include "data/SegmentEncoder.h"
#include "data/SequencePacker.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <algorithm>
#include <stdexcept>

namespace tb {

const char* datasetFormatName(DatasetFormat format)
{
    switch (format) {
    case DatasetFormat::Auto:
        return "auto";
    case DatasetFormat::Text:
        return "text";
    case DatasetFormat::JsonText:
        return "json-text";
    case DatasetFormat::Instruction:
        return "instruction";
    case DatasetFormat::Chat:
        return "chat";
    }
    return "auto";
}

DatasetFormat datasetFormatFromName(const std::string& name)
{
    for (DatasetFormat f : {DatasetFormat::Auto, DatasetFormat::Text, DatasetFormat::JsonText, DatasetFormat::Instruction,
                            DatasetFormat::Chat})
        if (name == datasetFormatName(f))
            return f;
    throw std::invalid_argument("unknown dataset format \"" + name + "\"; expected auto, text, json-text, instruction or chat");
}

namespace {

struct ProcessedRecord {
    EncodedExample encoded;     // untruncated; segments filled when rendering succeeded
    TokenizedExample example;   // truncated at maxSeqLen
    int64_t untruncatedLength = 0;
    std::string skipReason;
};

ProcessedRecord processRecord(const DatasetRecord& record, const ExampleRenderer& renderer,
                              const SegmentEncoder& encoder, int64_t maxSeqLen)
{
    ProcessedRecord out;
    out.example.sourceLine = record.line;
    RenderResult rendered = renderer.render(record);
    if (!rendered.skipReason.empty()) {
        out.skipReason = std::move(rendered.skipReason);
        return out;
    }
    out.encoded = encoder.encode(rendered.segments);
    const std::vector<uint8_t>& mask = out.encoded.lossMask;
    out.untruncatedLength = int64_t(out.encoded.ids.size());
    const auto keep = size_t(std::min<int64_t>(out.untruncatedLength, maxSeqLen));
    out.example.ids.assign(out.encoded.ids.begin(), out.encoded.ids.begin() + keep);
    out.example.lossMask.assign(mask.begin(), mask.begin() + keep);
    out.example.truncated = keep < out.encoded.ids.size();
    if (std::find(out.example.lossMask.begin(), out.example.lossMask.end(), 1) == out.example.lossMask.end()) {
        const auto firstTarget = int64_t(std::find(mask.begin(), mask.end(), 1) - mask.begin());
        if (firstTarget >= maxSeqLen && firstTarget < out.untruncatedLength)
            out.skipReason = "the prompt alone is " + std::to_string(firstTarget) + " tokens, max_seq_len is "
                + std::to_string(maxSeqLen) + ": nothing left to learn";
        else
            out.skipReason = "no tokens to learn";
    }
    return out;
}

struct Candidate {
    TokenizedExample example;
    int64_t untruncatedLength = 0;
    const std::string* splitKey = nullptr; // points into the DatasetFile
};

// Usable examples of one file, in file order; skipped records go to `stats`. Throws when
// nothing is usable: never an empty training (or validation) set without saying why.
std::vector<Candidate> processFile(const DatasetFile& file, const ExampleRenderer& renderer,
                                   const SegmentEncoder& encoder, int64_t maxSeqLen, DatasetStatsBuilder& stats)
{
    std::vector<Candidate> usable;
    for (const DatasetRecord& record : file.records) {
        ProcessedRecord processed = processRecord(record, renderer, encoder, maxSeqLen);
        if (!processed.skipReason.empty()) {
            stats.addSkipped(file.path, record.line, processed.skipReason);
            continue;
        }
        usable.push_back({std::move(processed.example), processed.untruncatedLength, &record.splitKey});
    }
    if (usable.empty())
        throw FormatError(file.path, "no usable records (" + std::to_string(stats.stats().skipped)
                                         + " skipped: first reason: " + stats.firstSkipReason() + ")");
    return usable;
}

DatasetFormat resolveFormat(const DatasetFile& file, DatasetFormat requested)
{
    if (requested == DatasetFormat::Auto)
        return DatasetReader::detectFormat(file);
    if (requested != DatasetFormat::Text && file.plainText)
        throw FormatError(file.path, std::string("the format \"") + datasetFormatName(requested)
                                         + "\" needs JSON records, but this is a plain-text file");
    return requested;
}

void validateOptions(const DatasetOptions& options)
{
    if (options.maxSeqLen < 2)
        throw std::invalid_argument("sequence length must be at least 2 tokens (got " + std::to_string(options.maxSeqLen) + ")");
    DatasetSplitter::validationCount(0, options.validationFraction); // throws on a bad fraction
}

// Whether examples of this format end with the config's eos_token (text and Alpaca prompts).
bool appendsEos(DatasetFormat format, const TokenizerConfig& config)
{
    return format == DatasetFormat::Text || format == DatasetFormat::JsonText
        || (format == DatasetFormat::Instruction && config.chatTemplate.empty());
}

} // namespace

PreparedDataset prepareDataset(const std::string& path, const std::string& validationPath, const Tokenizer& tokenizer,
                               const TokenizerConfig& tokenizerConfig, const DatasetOptions& options)
{
    validateOptions(options);
    const DatasetFile trainFile = DatasetReader::read(path, options.format == DatasetFormat::Text);
    PreparedDataset prepared;
    prepared.format = resolveFormat(trainFile, options.format);

    DatasetStatsBuilder trainStats(options.maxSeqLen);
    DatasetStatsBuilder validationStats(options.maxSeqLen);
    if (prepared.format == DatasetFormat::Auto) // every record unusable before its format mattered
        processFile(trainFile, ExampleRenderer(DatasetFormat::JsonText, tokenizerConfig, false, path),
                    SegmentEncoder(tokenizer, tokenizerConfig.bosToken), options.maxSeqLen, trainStats); // throws

    const ExampleRenderer renderer(prepared.format, tokenizerConfig, options.trainOnPrompt, path);
    const SegmentEncoder encoder(tokenizer, tokenizerConfig.bosToken);
    if (appendsEos(prepared.format, tokenizerConfig) && tokenizerConfig.eosToken.empty())
        trainStats.addWarning("tokenizer_config.json: no eos_token: examples end without an end-of-sequence token");

    std::vector<Candidate> train = processFile(trainFile, renderer, encoder, options.maxSeqLen, trainStats);
    std::vector<Candidate> validation;
    DatasetFile validationFile; // owns the records validation's split keys point into
    if (!validationPath.empty()) {
        validationFile = DatasetReader::read(validationPath, prepared.format == DatasetFormat::Text);
        const DatasetFormat validationFormat = resolveFormat(validationFile, options.format);
        if (validationFormat != DatasetFormat::Auto && validationFormat != prepared.format)
            throw FormatError(validationPath, std::string("holds \"") + datasetFormatName(validationFormat)
                                                  + "\" records, but the training file " + path + " holds \""
                                                  + datasetFormatName(prepared.format) + "\" records");
        validation = processFile(validationFile, renderer, encoder, options.maxSeqLen, validationStats);
    } else {
        std::vector<std::string> keys;
        keys.reserve(train.size());
        for (const Candidate& c : train)
            keys.push_back(*c.splitKey);
        const std::vector<bool> toValidation = DatasetSplitter::validationFlags(keys, options.validationFraction, options.splitSeed);
        if (options.validationFraction > 0.0 && train.size() < 2)
            trainStats.addWarning(path + ": only one usable record: the validation set is empty");
        std::vector<Candidate> kept;
        for (size_t i = 0; i < train.size(); ++i)
            (toValidation[i] ? validation : kept).push_back(std::move(train[i]));
        train = std::move(kept);
    }

    for (Candidate& c : train) {
        trainStats.addExample(c.example, c.untruncatedLength);
        prepared.train.push_back(std::move(c.example));
    }
    for (Candidate& c : validation) {
        validationStats.addExample(c.example, c.untruncatedLength);
        prepared.validation.push_back(std::move(c.example));
    }
    if (options.pack) {
        prepared.packed = true;
        prepared.train = SequencePacker::pack(prepared.train, options.maxSeqLen);
        prepared.validation = SequencePacker::pack(prepared.validation, options.maxSeqLen);
    }
    prepared.trainStats = trainStats.take(int64_t(prepared.train.size()));
    prepared.validationStats = validationStats.take(int64_t(prepared.validation.size()));
    return prepared;
}

std::vector<RenderedRecord> renderRecordSegments(const std::string& path, const Tokenizer& tokenizer,
                                                 const TokenizerConfig& tokenizerConfig,
                                                 const DatasetOptions& options, int maxRecords)
{
    validateOptions(options);
    const DatasetFile file = DatasetReader::read(path, options.format == DatasetFormat::Text);
    DatasetFormat format = resolveFormat(file, options.format);
    if (format == DatasetFormat::Auto) // nothing usable: show each record's problem
        format = DatasetFormat::JsonText;
    const ExampleRenderer renderer(format, tokenizerConfig, options.trainOnPrompt, path);
    const SegmentEncoder encoder(tokenizer, tokenizerConfig.bosToken);
    std::vector<RenderedRecord> out;
    for (const DatasetRecord& record : file.records) {
        if (int(out.size()) >= maxRecords)
            break;
        ProcessedRecord processed = processRecord(record, renderer, encoder, options.maxSeqLen);
        out.push_back({record.line, std::move(processed.encoded.segments), std::move(processed.skipReason)});
    }
    return out;
}

void checkTokenIdsBelow(const PreparedDataset& data, int64_t vocabSize, const std::string& path,
                        const std::string& validationPath, const Tokenizer& tokenizer)
{
    auto check = [&](const std::vector<TokenizedExample>& examples, const std::string& file) {
        for (const TokenizedExample& example : examples)
            for (const int32_t id : example.ids) {
                if (id >= 0 && id < vocabSize)
                    continue;
                throw FormatError(file, (data.packed ? "the packed sequence starting at line " : "line ")
                                            + std::to_string(example.sourceLine) + ": token id " + tokenizer.describeId(id)
                                            + " is past the model's vocabulary: config.json has vocab_size "
                                            + std::to_string(vocabSize)
                                            + "; the model folder's tokenizer does not match its weights");
            }
    };
    check(data.train, path);
    check(data.validation, validationPath.empty() ? path : validationPath);
}

} // namespace tb
