// Reads a training-data file into records, one per document (plain text, separated by blank
// lines), line (JSON Lines) or array element (JSON), each with the 1-based line it starts on.
// Whole-file faults (unreadable, empty, not UTF-8, a JSON array that does not parse) throw
// FormatError; a single malformed JSON line becomes a record with `problem` set, so the caller
// skips it with a warning and the rest of the file still trains.
#pragma once

#include "data/TrainingDataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct DatasetRecord {
    int64_t line = 0;      // 1-based line where the record starts
    std::string text;      // the document (plain-text files)
    nlohmann::json object; // the record (JSON files); null for plain text
    std::string problem;   // non-empty: unusable as read ("malformed JSON: ..."), to skip with a warning
    std::string splitKey;  // the record's own bytes: the train/validation split hashes these
};

struct DatasetFile {
    std::string path;
    bool plainText = false;
    std::vector<DatasetRecord> records; // file order, unusable ones included
};

class DatasetReader {
public:
    // By extension: .txt/.text/.md plain text; .jsonl/.ndjson JSON Lines; .json a JSON array
    // (or JSON Lines when the file does not parse as one value); anything else by its first
    // non-blank character ('[' array, '{' lines, else text). forcePlainText reads any file as text.
    static DatasetFile read(const std::string& path, bool forcePlainText);

    // The record format of a JSON file from its first usable record's keys: "messages" -> Chat,
    // "instruction" + "output" -> Instruction, "text" -> JsonText. Plain-text files are Text.
    // Throws FormatError naming the record's line and keys when none matches; returns Auto when
    // the file holds no usable record at all (the caller reports that with the skip reasons).
    static DatasetFormat detectFormat(const DatasetFile& file);

    // Throws FormatError(path, "line L, byte offset B: ...") at the first invalid UTF-8 sequence.
    static void checkUtf8(const std::string& path, const std::string& bytes);
};

} // namespace tb
