#include "ollama/OllamaModelfile.h"

#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace tb {

namespace {

// Decodes one UTF-8 code point at `i` (advancing it); false on a malformed sequence.
bool nextCodePoint(const std::string& s, size_t& i, uint32_t& cp)
{
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + extra >= s.size())
        return false;
    cp = extra == 0 ? c : c & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
        const unsigned char d = static_cast<unsigned char>(s[i + k]);
        if ((d >> 6) != 2)
            return false;
        cp = (cp << 6) | (d & 0x3f);
    }
    i += extra + 1;
    return true;
}

// Characters Go's strconv.IsPrint rejects that real text may hold: the parser drops them. Tab and
// line ends survive inside quotes.
bool droppedByParser(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return false;
    return cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
           (cp >= 0x205f && cp <= 0x2064) || cp == 0x3000 || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

std::string codePointName(uint32_t cp)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

std::string quotedValue(const std::string& value, const char* what)
{
    const bool oneLine = value.find_first_of("\r\n") == std::string::npos;
    std::string why;
    if (!modelfileQuotable(value, &why))
        throw std::invalid_argument(std::string("Modelfile: the ") + what + " cannot be written: " + why);
    if (oneLine && value.find('"') == std::string::npos)
        return "\"" + value + "\"";
    return "\"\"\"" + value + "\"\"\"";
}

// A file next to the Modelfile, as FROM and ADAPTER take it: Ollama resolves a relative path
// against the Modelfile's folder, and reads a FROM that is no existing file as a model name, so
// the "./" makes the intent plain.
std::string filePath(const std::string& name, const char* what)
{
    if (name.empty() || name.find_first_of("\"\r\n") != std::string::npos)
        throw std::invalid_argument(std::string("Modelfile: the ") + what + " file name \"" + name +
                                    "\" cannot be written (empty, or holds a double quote or line end)");
    const bool anchored = name[0] == '/' || name[0] == '~' || name.rfind("./", 0) == 0 || name.rfind("../", 0) == 0;
    const std::string path = anchored ? name : "./" + name;
    return path.find_first_of(" \t") == std::string::npos ? path : quotedValue(path, what);
}

// Each line of `text` as a Modelfile comment.
std::string commented(const std::string& text)
{
    std::string out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        if (end > start)
            out += "# " + text.substr(start, end - start) + "\n";
        start = end + 1;
    }
    return out;
}

} // namespace

bool modelfileQuotable(const std::string& value, std::string* why)
{
    auto fail = [&](const std::string& reason) {
        if (why)
            *why = reason;
        return false;
    };
    for (size_t i = 0; i < value.size();) {
        const size_t at = i;
        uint32_t cp = 0;
        if (!nextCodePoint(value, i, cp))
            return fail("byte " + std::to_string(at) + " is not UTF-8");
        if (droppedByParser(cp))
            return fail("byte " + std::to_string(at) + " holds " + codePointName(cp) +
                        ", which Ollama's Modelfile parser drops");
    }
    // The value ends early at a line end where the text read so far ends with """.
    for (size_t p = 0; p < value.size(); ++p) {
        if (value[p] != '\n' && value[p] != '\r')
            continue;
        std::string sofar = "\"\"\"" + value.substr(0, p);
        while (!sofar.empty() && (sofar.back() == ' ' || sofar.back() == '\t' || sofar.back() == '\n' ||
                                  sofar.back() == '\r' || sofar.back() == '\v' || sofar.back() == '\f'))
            sofar.pop_back();
        if (sofar.size() >= 6 && sofar.compare(sofar.size() - 3, 3, "\"\"\"") == 0)
            return fail("a line ending at byte " + std::to_string(p) +
                        " ends with \"\"\", which would close the Modelfile value there");
    }
    return true;
}

std::string modelfileText(const std::string& fromFile, const std::string& adapterFile, const OllamaChat& chat)
{
    std::string out = "# Ollama Modelfile written by Tunebench. Create the model from this folder with:\n"
                      "#   ollama create <name> -f Modelfile\n";
    out += "FROM " + filePath(fromFile, "FROM") + "\n";
    if (!adapterFile.empty())
        out += "ADAPTER " + filePath(adapterFile, "ADAPTER") + "\n";
    out += "\n";

    if (!chat.recognized) {
        out += "# No TEMPLATE: the model's chat template was not recognized as one of the families\n"
               "# Tunebench writes an Ollama template for. The original Jinja template is embedded in\n"
               "# the GGUF (tokenizer.chat_template), which llama.cpp's server and LM Studio use;\n"
               "# Ollama picks one of its own templates by comparing it with that one.\n";
        out += commented("Reason: " + chat.note);
        return out;
    }

    out += "# Chat template: " + chat.familyTitle + ", recognized by rendering the model's Jinja chat template.\n";
    out += commented(chat.note);
    std::string why;
    if (!modelfileQuotable(chat.goTemplate, &why))
        throw std::invalid_argument("Modelfile: the TEMPLATE cannot be written: " + why);
    out += "TEMPLATE \"\"\"" + chat.goTemplate + "\"\"\"\n";
    for (const std::string& stop : chat.stops)
        out += "PARAMETER stop " + quotedValue(stop, "stop string") + "\n";
    if (!chat.defaultSystem.empty()) {
        if (modelfileQuotable(chat.defaultSystem, &why))
            out += "SYSTEM \"\"\"" + chat.defaultSystem + "\"\"\"\n";
        else
            out += commented("No SYSTEM: the model's default system prompt cannot be written in a Modelfile (" +
                             why + "); set the system prompt in the request.");
    }
    return out;
}

} // namespace tb
