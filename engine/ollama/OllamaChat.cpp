#include "ollama/OllamaChat.h"

#include <algorithm>
#include <ctime>

namespace tb {

namespace {

// Text written into the Go template as it is, except what Go would read as an action ("{{") and
// the control characters Ollama's Modelfile parser drops: those become Go string literals.
std::string goText(const std::string& text)
{
    static const char* const hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
            out += "{{ \"{{\" }}";
            ++i;
        } else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            out += std::string("{{ \"\\x") + hex[c >> 4] + hex[c & 15] + "\" }}";
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

const char* const kRange = "{{- range $i, $_ := .Messages }}\n";
const char* const kLast = "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n";

// ChatML, Llama 3, Zephyr, Phi-3: one turn per message, role in the turn header.
std::string ownTurnTemplate(const ChatLayout& layout)
{
    std::string open, close, generation;  // open holds ROLE where the role goes
    switch (layout.family) {
    case ChatFamilyKind::ChatML:
        open = "<|im_start|>ROLE\n";
        close = "<|im_end|>\n";
        generation = "<|im_start|>assistant\n";
        break;
    case ChatFamilyKind::Llama3:
        open = "<|start_header_id|>ROLE<|end_header_id|>\n\n";
        close = "<|eot_id|>";
        generation = "<|start_header_id|>assistant<|end_header_id|>\n\n";
        break;
    case ChatFamilyKind::Zephyr:
        open = "<|ROLE|>\n";
        close = goText(layout.eosToken) + "\n";
        generation = "<|assistant|>\n";
        break;
    default:  // Phi3
        open = "<|ROLE|>\n";
        close = "<|end|>\n";
        generation = "<|assistant|>\n";
        break;
    }
    auto withRole = [&](const std::string& role) {
        std::string s = open;
        s.replace(s.find("ROLE"), 4, role);
        return s;
    };
    const std::string preamble = goText(layout.systemPreamble);

    std::string t = kRange;
    t += kLast;
    if (layout.systemTurnAlways)
        t += "{{- if and (eq $i 0) (ne .Role \"system\") }}" + withRole("system") + preamble + close +
             "{{ end -}}\n";
    const bool skipsEmptySystem = layout.family == ChatFamilyKind::Phi3;
    if (skipsEmptySystem)
        t += "{{- if or (ne .Role \"system\") .Content -}}\n";
    t += withRole("{{ .Role }}");
    if (!preamble.empty())
        t += "{{ if and (eq $i 0) (eq .Role \"system\") }}" + preamble + "{{ end }}";
    t += "{{ .Content }}\n";
    t += "{{- if or (ne .Role \"assistant\") (not $last) }}" + close + "{{ end }}\n";
    if (skipsEmptySystem)
        t += "{{- end }}\n";
    t += "{{- if and $last (ne .Role \"assistant\") }}" + generation + "{{ end }}\n";
    t += "{{- end }}";
    return t;
}

// Llama 2 and Mistral: [INST] user turns, the system prompt folded into a user turn.
std::string instTemplate(const ChatLayout& layout)
{
    const bool llama2 = layout.family == ChatFamilyKind::Llama2;
    const std::string systemOpen = llama2 ? "<<SYS>>\n" : "";
    const std::string systemClose = llama2 ? "\n<</SYS>>\n\n" : "\n\n";
    const bool lastUser = layout.systemPlacement == SystemPlacement::LastUserTurn;
    const bool bos = !layout.bosBetweenTurns.empty();

    std::string t = "{{- $system := \"\" }}\n";
    if (bos)
        t += "{{- $started := false }}\n";
    t += kRange;
    t += kLast;
    t += "{{- if eq .Role \"system\" }}{{ $system = .Content }}\n";
    t += "{{- else if eq .Role \"assistant\" }}" + goText(layout.assistantOpen) + "{{ .Content }}{{ if not $last }}" +
         (llama2 ? " " : "") + goText(layout.eosToken) + "{{ end }}\n";
    t += "{{- else }}";
    if (bos)
        t += "{{ if $started }}" + goText(layout.bosBetweenTurns) + "{{ end }}{{ $started = true }}";
    t += goText(layout.instOpen);
    if (lastUser)
        t += "{{ if and $last $system }}" + systemOpen + "{{ $system }}" + systemClose + "{{ end }}";
    else
        t += "{{ if $system }}" + systemOpen + "{{ $system }}" + systemClose + "{{ $system = \"\" }}{{ end }}";
    t += "{{ .Content }}" + goText(layout.instClose) + "\n";
    t += "{{- end }}\n";
    t += "{{- end }}";
    return t;
}

// Gemma: user/model turns, the system prompt at the start of the first user turn (Gemma 3).
std::string gemmaTemplate()
{
    return "{{- $system := \"\" }}\n"
           + std::string(kRange) + kLast +
           "{{- if eq .Role \"system\" }}{{ $system = .Content }}\n"
           "{{- else if eq .Role \"assistant\" }}<start_of_turn>model\n"
           "{{ .Content }}{{ if not $last }}<end_of_turn>\n"
           "{{ end }}\n"
           "{{- else }}<start_of_turn>{{ .Role }}\n"
           "{{ if $system }}{{ $system }}\n"
           "\n"
           "{{ $system = \"\" }}{{ end }}{{ .Content }}<end_of_turn>\n"
           "{{ if $last }}<start_of_turn>model\n"
           "{{ end }}\n"
           "{{- end }}\n"
           "{{- end }}";
}

std::vector<std::string> familyStops(ChatFamilyKind family)
{
    switch (family) {
    case ChatFamilyKind::ChatML: return {"<|im_start|>", "<|im_end|>"};
    case ChatFamilyKind::Llama3: return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    case ChatFamilyKind::Llama2: return {"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"};
    case ChatFamilyKind::Mistral: return {"[INST]", "[/INST]"};
    case ChatFamilyKind::Zephyr: return {"<|system|>", "<|user|>", "<|assistant|>"};
    case ChatFamilyKind::Phi3: return {"<|end|>", "<|user|>", "<|assistant|>"};
    case ChatFamilyKind::Gemma: return {"<start_of_turn>", "<end_of_turn>"};
    }
    return {};
}

// Today's date as Llama 3.2's template writes it (strftime_now("%d %b %Y")).
std::string todayAsLlamaDate()
{
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[64];
    const size_t n = std::strftime(buf, sizeof buf, "%d %b %Y", &local);
    return std::string(buf, n);
}

std::string notesFor(const ChatLayout& layout)
{
    std::string note;
    if (!layout.systemPreamble.empty()) {
        note += "The model's template writes fixed text before the system prompt in the system turn; "
                "the Ollama template writes the same text.\n";
        const std::string today = todayAsLlamaDate();
        if (layout.systemPreamble.find(today) != std::string::npos)
            note += "That text holds today's date (" + today +
                    ", from strftime_now when the template was rendered); Ollama keeps writing this date.\n";
    }
    if (layout.systemPlacement == SystemPlacement::Refused)
        note += "The model's template refuses a system message; the Ollama template puts a SYSTEM "
                "at the start of the first user turn.\n";
    return note;
}

} // namespace

OllamaChat ollamaChatFor(const ChatFamilyMatch& match)
{
    OllamaChat chat;
    if (match.family.empty()) {
        chat.note = match.reason;
        return chat;
    }
    const ChatLayout& layout = match.layout;
    chat.recognized = true;
    chat.family = chatFamilyName(layout.family);
    chat.familyTitle = chatFamilyTitle(layout.family);
    chat.defaultSystem = match.defaultSystem;
    switch (layout.family) {
    case ChatFamilyKind::Llama2:
    case ChatFamilyKind::Mistral: chat.goTemplate = instTemplate(layout); break;
    case ChatFamilyKind::Gemma: chat.goTemplate = gemmaTemplate(); break;
    default: chat.goTemplate = ownTurnTemplate(layout); break;
    }
    chat.stops = familyStops(layout.family);
    if (!layout.eosToken.empty() &&
        std::find(chat.stops.begin(), chat.stops.end(), layout.eosToken) == chat.stops.end())
        chat.stops.push_back(layout.eosToken);
    chat.note = notesFor(layout);
    return chat;
}

} // namespace tb
