// The text of an Ollama Modelfile for an exported GGUF: FROM, ADAPTER, TEMPLATE, PARAMETER stop and
// SYSTEM, quoted so Ollama's parser (ollama/ollama parser/parser.go) reads every value back as
// written.
//
// Modelfile quoting, as that parser reads a value: no escapes exist; """...""" may span lines and
// ends at the first line end where the text so far, right-trimmed, ends with """; characters Go's
// strconv.IsPrint rejects (controls other than tab and line ends, non-ASCII spaces, format
// characters) are silently dropped. So a value is written in """ unless it is one line without
// a double quote (then "..."), and one that cannot survive is refused: TEMPLATE and file names
// throw, a SYSTEM that cannot be written becomes a comment saying so.
#pragma once

#include "ollama/OllamaChat.h"

#include <string>

namespace tb {

// The Modelfile, ending with a newline. fromFile and adapterFile are file names relative to the
// Modelfile's folder ("model-Q8_0.gguf"; written as "./model-Q8_0.gguf"); adapterFile "" for none.
// An unrecognized chat template gets no TEMPLATE line but a comment with the reason: the GGUF
// keeps the original Jinja template (tokenizer.chat_template) for llama.cpp's server and LM Studio.
// Throws std::invalid_argument for a file name or TEMPLATE the Modelfile syntax cannot carry.
std::string modelfileText(const std::string& fromFile, const std::string& adapterFile, const OllamaChat& chat);

// Whether `value` survives in a """...""" Modelfile value; if not, *why says what breaks it.
bool modelfileQuotable(const std::string& value, std::string* why = nullptr);

} // namespace tb
