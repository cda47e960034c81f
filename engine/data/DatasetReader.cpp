#include "data/DatasetReader.h"

#include "formats/FormatError.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tb {

namespace {

std::string lowerExtension(const std::string& path)
{
    const size_t slash = path.find_last_of("/\\");
    const size_t dot = path.find_last_of('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return {};
    std::string ext = path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

bool isBlank(const std::string& line)
{
    return std::all_of(line.begin(), line.end(), [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// Splits on '\n' and drops a trailing '\r' (files saved on Windows).
std::vector<std::string> splitLines(const std::string& text)
{
    std::vector<std::string> lines;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        std::string line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        lines.push_back(std::move(line));
        start = end + 1;
    }
    if (!lines.empty() && lines.back().empty())
        lines.pop_back(); // the final newline ends the last line, it does not start another
    return lines;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the user needs the rest.
std::string jsonErrorText(const std::exception& e, bool singleLine)
{
    std::string msg = e.what();
    const size_t bracket = msg.find("] ");
    if (msg.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos)
        msg = msg.substr(bracket + 2);
    // Within one JSONL line nlohmann always says "line 1"; the caller names the file line.
    const std::string lineOne = "at line 1, column";
    if (singleLine) {
        const size_t at = msg.find(lineOne);
        if (at != std::string::npos)
            msg.replace(at, lineOne.size(), "at column");
    }
    return msg;
}

std::string readWholeFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open the file for reading");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad())
        throw FormatError(path, "read error");
    return buffer.str();
}

void readPlainText(DatasetFile& file, const std::string& text)
{
    const std::vector<std::string> lines = splitLines(text);
    DatasetRecord current;
    bool open = false;
    auto close = [&]() {
        if (open) {
            current.splitKey = current.text;
            file.records.push_back(std::move(current));
            current = DatasetRecord();
            open = false;
        }
    };
    for (size_t i = 0; i < lines.size(); ++i) {
        if (isBlank(lines[i])) {
            close();
            continue;
        }
        if (!open) {
            current.line = int64_t(i) + 1;
            open = true;
        } else {
            current.text += '\n';
        }
        current.text += lines[i];
    }
    close();
    if (file.records.empty())
        throw FormatError(file.path, text.empty() ? "the file is empty" : "the file holds only blank lines");
}

void readJsonLines(DatasetFile& file, const std::string& text)
{
    const std::vector<std::string> lines = splitLines(text);
    for (size_t i = 0; i < lines.size(); ++i) {
        if (isBlank(lines[i]))
            continue;
        DatasetRecord record;
        record.line = int64_t(i) + 1;
        try {
            record.object = nlohmann::json::parse(lines[i]);
            if (!record.object.is_object()) {
                record.problem = std::string("expected a JSON object, got ") + record.object.type_name();
                record.object = nullptr;
            }
        } catch (const nlohmann::json::exception& e) {
            record.problem = "malformed JSON: " + jsonErrorText(e, true);
        }
        record.splitKey = record.object.is_object() ? record.object.dump() : lines[i];
        file.records.push_back(std::move(record));
    }
    if (file.records.empty())
        throw FormatError(file.path, text.empty() ? "the file is empty" : "the file holds only blank lines");
}

// 1-based line of each top-level element of the JSON array `text` (already known to parse),
// found by a scan that tracks strings and nesting: nlohmann keeps no positions.
std::vector<int64_t> arrayElementLines(const std::string& text)
{
    std::vector<int64_t> lines;
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '[')
        return lines;
    int64_t line = 1;
    int depth = 0;
    bool inString = false;
    bool escaped = false;
    bool expectElement = false;
    for (char c : text) {
        if (c == '\n')
            ++line;
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
            continue;
        }
        const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (expectElement && !space && c != ']') {
            lines.push_back(line);
            expectElement = false;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            ++depth;
            if (depth == 1 && c == '[')
                expectElement = true;
        } else if (c == ']' || c == '}') {
            --depth;
        } else if (c == ',' && depth == 1) {
            expectElement = true;
        }
    }
    return lines;
}

void readJsonArray(DatasetFile& file, const std::string& text, const nlohmann::json& value)
{
    if (!value.is_array())
        throw FormatError(file.path, std::string("expected a JSON array of records, got ") + value.type_name()
                                         + " (for one record per line, name the file .jsonl)");
    if (value.empty())
        throw FormatError(file.path, "the JSON array is empty");
    std::vector<int64_t> lines = arrayElementLines(text);
    if (lines.size() != value.size()) // cannot happen for valid JSON; fall back to element numbers
        lines.clear();
    for (size_t i = 0; i < value.size(); ++i) {
        DatasetRecord record;
        record.line = lines.empty() ? int64_t(i) + 1 : lines[i];
        if (value[i].is_object())
            record.object = value[i];
        else
            record.problem = "record " + std::to_string(i) + " is " + value[i].type_name() + ", expected a JSON object";
        record.splitKey = value[i].dump();
        file.records.push_back(std::move(record));
    }
}

std::string utf8Hint(const std::string& bytes)
{
    if (bytes.size() >= 2
        && ((uint8_t(bytes[0]) == 0xFF && uint8_t(bytes[1]) == 0xFE) || (uint8_t(bytes[0]) == 0xFE && uint8_t(bytes[1]) == 0xFF)))
        return "; the file looks like UTF-16: save it as UTF-8";
    return "; save the file as UTF-8";
}

} // namespace

void DatasetReader::checkUtf8(const std::string& path, const std::string& bytes)
{
    // Well-formed UTF-8 per Unicode table 3-7: no overlong forms, no surrogates, <= U+10FFFF.
    int64_t line = 1;
    size_t i = 0;
    const size_t n = bytes.size();
    while (i < n) {
        const auto b = uint8_t(bytes[i]);
        if (b < 0x80) {
            if (b == '\n')
                ++line;
            ++i;
            continue;
        }
        size_t len = 0;
        uint8_t lo = 0x80, hi = 0xBF; // allowed range of the second byte
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0)
                lo = 0xA0;
            if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0)
                lo = 0x90;
            if (b == 0xF4)
                hi = 0x8F;
        }
        bool ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            const auto c = uint8_t(bytes[i + k]);
            ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        }
        if (!ok) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", unsigned(b));
            throw FormatError(path, "line " + std::to_string(line) + ", byte offset " + std::to_string(i)
                                        + ": invalid UTF-8 (byte " + hex + ")" + utf8Hint(bytes));
        }
        i += len;
    }
}

DatasetFile DatasetReader::read(const std::string& path, bool forcePlainText)
{
    DatasetFile file;
    file.path = path;
    std::string bytes = readWholeFile(path);
    checkUtf8(path, bytes);
    if (bytes.rfind("\xEF\xBB\xBF", 0) == 0) // a UTF-8 byte order mark is not content
        bytes.erase(0, 3);

    const std::string ext = lowerExtension(path);
    const size_t first = bytes.find_first_not_of(" \t\r\n");
    if (forcePlainText || ext == "txt" || ext == "text" || ext == "md") {
        file.plainText = true;
        readPlainText(file, bytes);
        return file;
    }
    if (first == std::string::npos)
        throw FormatError(path, bytes.empty() ? "the file is empty" : "the file holds only blank lines");
    // JSON Lines never start with '[' (each line is an object), so '[' means a JSON array
    // whatever the extension says.
    if (bytes[first] == '[') {
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(bytes);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(path, "malformed JSON: " + jsonErrorText(e, false));
        }
        readJsonArray(file, bytes, value);
        return file;
    }
    if (ext == "json" && bytes[first] == '{') {
        const nlohmann::json value = nlohmann::json::parse(bytes, nullptr, false);
        if (!value.is_discarded()) {
            // One object in the whole file: a single record if it looks like one, else a wrapper
            // such as {"data": [...]}, which readJsonArray rejects with the expected shape.
            if (value.contains("text") || value.contains("messages") || value.contains("instruction")) {
                readJsonArray(file, bytes, nlohmann::json::array({value}));
                return file;
            }
            readJsonArray(file, bytes, value);
        }
        // Several values: one object per line, a common mislabelling of JSON Lines.
    }
    if (ext == "jsonl" || ext == "ndjson" || ext == "json" || bytes[first] == '{') {
        readJsonLines(file, bytes);
        return file;
    }
    file.plainText = true;
    readPlainText(file, bytes);
    return file;
}

DatasetFormat DatasetReader::detectFormat(const DatasetFile& file)
{
    if (file.plainText)
        return DatasetFormat::Text;
    for (const DatasetRecord& record : file.records) {
        if (!record.problem.empty())
            continue;
        const nlohmann::json& o = record.object;
        if (o.contains("messages"))
            return DatasetFormat::Chat;
        if (o.contains("instruction") && o.contains("output"))
            return DatasetFormat::Instruction;
        if (o.contains("text"))
            return DatasetFormat::JsonText;
        std::string keys;
        for (auto it = o.begin(); it != o.end(); ++it)
            keys += (keys.empty() ? "" : ", ") + nlohmann::json(it.key()).dump();
        throw FormatError(file.path, "line " + std::to_string(record.line)
                                         + ": cannot tell the dataset format from the record's keys [" + keys
                                         + "]; expected \"text\", \"instruction\" + \"output\", or \"messages\"");
    }
    return DatasetFormat::Auto;
}

} // namespace tb
