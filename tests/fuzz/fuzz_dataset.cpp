// libFuzzer target: a training-data file (DatasetReader::read + detectFormat). The first input
// byte picks the file's extension (low two bits), which picks the reader (JSON Lines, JSON
// array, plain text, or detection by content), and its top bit forces plain text; the rest is
// the file. Records must carry a 1-based line inside the
// file; malformed lines become records with `problem` set, whole-file faults FormatErrors.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "data/DatasetReader.h"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    static const char* const extensions[] = {".jsonl", ".json", ".txt", ".data"};
    const std::string extension = extensions[data[0] % 4];
    const std::string path = tbfuzz::scratchPath(extension);
    tbfuzz::writeFile(path, data + 1, size - 1);
    try {
        const tb::DatasetFile file = tb::DatasetReader::read(path, (data[0] & 0x80) != 0);
        const int64_t lines = 1 + std::count(data + 1, data + size, '\n');
        for (const tb::DatasetRecord& record : file.records)
            if (record.line < 1 || record.line > lines)
                tbfuzz::violated("record line outside the file");
        (void)tb::DatasetReader::detectFormat(file);
    } catch (const tb::FormatError&) {
    }
    std::remove(path.c_str());
    return 0;
}
