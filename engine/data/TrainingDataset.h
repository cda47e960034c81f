// Training data for fine-tuning: a user's file (plain text, JSON Lines / JSON array with a
// "text" field, Alpaca-style instruction records, or chat records with "messages") turned into
// token sequences with a per-token loss mask, a deterministic train/validation split, and
// statistics. Bad records are skipped with a warning naming file and line; a file with no
// usable record is an error, never an empty dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

class Tokenizer;
struct TokenizerConfig;

enum class DatasetFormat { Auto, Text, JsonText, Instruction, Chat };
const char* datasetFormatName(DatasetFormat format);          // "auto", "text", "json-text", "instruction", "chat"
DatasetFormat datasetFormatFromName(const std::string& name); // throws std::invalid_argument

struct DatasetOptions {
    DatasetFormat format = DatasetFormat::Auto; // Auto: detected from the file (see docs/datasets.md)
    int64_t maxSeqLen = 512;        // tokens per example; longer ones are truncated (and counted)
    bool trainOnPrompt = false;     // false: loss only on completions (assistant turns / "output")
    bool pack = false;              // concatenate examples into maxSeqLen sequences
    double validationFraction = 0.1; // used when no separate validation file is given
    uint64_t splitSeed = 0;         // the split is a deterministic function of this seed
};

struct TokenizedExample {
    std::vector<int32_t> ids;
    std::vector<uint8_t> lossMask; // same length as ids; 1 = this token is a prediction target
    int64_t sourceLine = 0;        // 1-based line where the record starts (all formats); packed: the first one's
    bool truncated = false;
};

struct DatasetStats {
    int64_t records = 0;        // usable records read
    int64_t skipped = 0;        // records skipped with a warning
    int64_t truncated = 0;      // examples cut at maxSeqLen
    int64_t tokens = 0;         // all tokens after truncation
    int64_t lossTokens = 0;     // tokens with lossMask 1
    // Token-length histogram of the examples before truncation: counts per bucket of
    // width histogramBucket tokens (bucket i covers [i*w, (i+1)*w)).
    int64_t histogramBucket = 32;
    std::vector<int64_t> lengthHistogram;
    std::vector<std::string> warnings; // "file:line: reason", at most the first 100
    int64_t warningsOmitted = 0;       // warnings beyond the first 100, counted but not kept
    int64_t sequences = 0;             // training sequences: examples, or packed sequences with pack
};

struct PreparedDataset {
    DatasetFormat format = DatasetFormat::Auto; // the format actually used
    bool packed = false; // examples are packed sequences (DatasetOptions::pack)
    std::vector<TokenizedExample> train;
    std::vector<TokenizedExample> validation;
    DatasetStats trainStats;
    DatasetStats validationStats;
};

// validationPath empty: validation is split off the training file by options.validationFraction.
// Throws FormatError (file and line named) for an unreadable, empty, non-UTF-8 or wholly
// unusable file; individual bad records are skipped and counted.
PreparedDataset prepareDataset(const std::string& path, const std::string& validationPath, const Tokenizer& tokenizer,
                               const TokenizerConfig& tokenizerConfig, const DatasetOptions& options);

// Throws FormatError naming the data file and line of the first example holding a token id at
// or past vocabSize (packed: the line where its sequence starts) (config.json's vocab_size, the model's embedding rows): the model folder's
// tokenizer has tokens the model has no embedding for. Torch would otherwise fail inside the
// embedding with "index out of range in self" (CPU) or a device-side assert that ends the CUDA
// context. validationPath empty: validation examples came from `path`.
void checkTokenIdsBelow(const PreparedDataset& data, int64_t vocabSize, const std::string& path,
                        const std::string& validationPath, const Tokenizer& tokenizer);

// One piece of an example's text, in order; the pieces concatenated are exactly the text the
// tokenizer sees (including a BOS the post-processor adds, shown as its token string).
struct RenderedSegment {
    std::string text;
    bool masked = true; // true: no loss on these tokens (prompt, template markup, BOS)
    int64_t tokens = 0; // tokens this piece encodes to (before truncation at maxSeqLen)
};

struct RenderedRecord {
    int64_t sourceLine = 0;
    std::vector<RenderedSegment> segments; // empty when the record cannot be rendered (bad field, bad JSON)
    std::string skipReason;                // "" when usable; otherwise the warning training would give
};

// For a preview (GUI): the first maxRecords records of `path`, rendered, masked and counted
// exactly as prepareDataset would. Throws FormatError as prepareDataset does for the file
// as a whole (unreadable, non-UTF-8, undetectable format, chat records without a template).
std::vector<RenderedRecord> renderRecordSegments(const std::string& path, const Tokenizer& tokenizer,
                                                 const TokenizerConfig& tokenizerConfig,
                                                 const DatasetOptions& options, int maxRecords);

} // namespace tb
