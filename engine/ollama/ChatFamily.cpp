#include "ollama/ChatFamily.h"

#include <algorithm>
#include <optional>
#include <vector>

namespace tb {

namespace {

const char* const kSystem = "You are a probe system prompt.";
const char* const kUser1 = "First probe question?";
const char* const kAssistant1 = "First probe answer.";
const char* const kUser2 = "Second probe question?";
// Stands for the system prompt in a layout rendering, to find where the template's own text sits;
// control characters so no template writes it.
const char* const kMarker = "\x1f\x1esystem\x1e\x1f";

struct Probe {
    const char* name;
    std::vector<ChatMessage> messages;
    bool hasSystem() const { return !messages.empty() && messages.front().role == "system"; }
};

std::vector<Probe> probes()
{
    const ChatMessage s{"system", kSystem}, u1{"user", kUser1}, a1{"assistant", kAssistant1},
        u2{"user", kUser2};
    return {
        {"system, user, assistant, user", {s, u1, a1, u2}},
        {"user, assistant, user", {u1, a1, u2}},
        {"system, user", {s, u1}},
        {"user", {u1}},
    };
}
constexpr size_t kProbeWithSystem = 0;
constexpr size_t kProbeWithoutSystem = 1;

struct Rendering {
    bool raised = false;
    std::string text;   // leading BOS removed
    std::string error;  // when raised
};

std::string quotedSnippet(const std::string& text, size_t from)
{
    std::string out = "\"";
    const size_t end = std::min(text.size(), from + 40);
    for (size_t i = from; i < end; ++i) {
        const char c = text[i];
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else
            out += c;
    }
    return out + (end < text.size() ? "...\"" : "\"");
}

// Where `rendered` equals `layoutText` with kMarker replaced by some text: that text.
std::optional<std::string> textAtMarker(const std::string& layoutText, const std::string& rendered)
{
    const size_t at = layoutText.find(kMarker);
    if (at == std::string::npos)
        return std::nullopt;
    const std::string prefix = layoutText.substr(0, at);
    const std::string suffix = layoutText.substr(at + std::char_traits<char>::length(kMarker));
    if (rendered.size() < prefix.size() + suffix.size() || rendered.compare(0, prefix.size(), prefix) != 0 ||
        rendered.compare(rendered.size() - suffix.size(), suffix.size(), suffix) != 0)
        return std::nullopt;
    return rendered.substr(prefix.size(), rendered.size() - prefix.size() - suffix.size());
}

std::vector<ChatMessage> withSystem(const std::vector<ChatMessage>& messages, const std::string& system)
{
    std::vector<ChatMessage> out;
    out.push_back({"system", system});
    for (const ChatMessage& m : messages)
        if (m.role != "system")
            out.push_back(m);
    return out;
}

// How far a candidate layout got: every probe reproduced, or where the first one differs.
struct Fit {
    bool matches = false;
    ChatLayout layout;
    std::string defaultSystem;
    size_t probesMatched = 0;   // for choosing the nearest family in the reason
    size_t bytesMatched = 0;    // before the first difference
    std::string difference;
};

Fit fitLayout(ChatLayout layout, const std::vector<Probe>& probeList, const std::vector<Rendering>& rendered)
{
    Fit fit;
    const bool refused = layout.systemPlacement == SystemPlacement::Refused;

    // The system preamble: what the template writes before the given system prompt in its turn.
    const Rendering& sys = rendered[kProbeWithSystem];
    if (!refused && !sys.raised && layout.systemPlacement == SystemPlacement::OwnTurn) {
        const auto text = textAtMarker(
            renderChatLayout(layout, withSystem(probeList[kProbeWithSystem].messages, kMarker), true), sys.text);
        const std::string given = kSystem;
        if (text && text->size() >= given.size() && text->compare(text->size() - given.size(), given.size(), given) == 0)
            layout.systemPreamble = text->substr(0, text->size() - given.size());
    }

    // A default system prompt: the no-system probe renders as though one were given.
    const Rendering& noSys = rendered[kProbeWithoutSystem];
    const std::vector<ChatMessage>& noSysMessages = probeList[kProbeWithoutSystem].messages;
    if (!refused && !noSys.raised && renderChatLayout(layout, noSysMessages, true) != noSys.text) {
        const auto text =
            textAtMarker(renderChatLayout(layout, withSystem(noSysMessages, kMarker), true), noSys.text);
        if (text && !text->empty())
            fit.defaultSystem = *text;
        else if (text && layout.systemPlacement == SystemPlacement::OwnTurn)
            layout.systemTurnAlways = true;
    }

    // Every probe is compared, so the nearest family in an unrecognized template's reason is the
    // one reproducing the most probes; the first difference is the one reported.
    auto differs = [&fit](std::string difference, size_t bytesMatched) {
        if (fit.difference.empty()) {
            fit.difference = std::move(difference);
            fit.bytesMatched = bytesMatched;
        }
    };
    for (size_t p = 0; p < probeList.size(); ++p) {
        const Probe& probe = probeList[p];
        const Rendering& r = rendered[p];
        const std::string where = std::string("probe \"") + probe.name + "\": ";
        if (probe.hasSystem() && refused) {
            if (r.raised)
                ++fit.probesMatched;
            else
                differs(where + "the template accepts a system message, the layout refuses one", 0);
            continue;
        }
        if (r.raised) {
            differs(where + "the template raises \"" + r.error + "\"", 0);
            continue;
        }
        std::vector<ChatMessage> messages = probe.messages;
        if (!fit.defaultSystem.empty() && !probe.hasSystem())
            messages = withSystem(messages, fit.defaultSystem);
        const std::string expected = renderChatLayout(layout, messages, true);
        if (expected == r.text) {
            ++fit.probesMatched;
            continue;
        }
        size_t at = 0;
        while (at < expected.size() && at < r.text.size() && expected[at] == r.text[at])
            ++at;
        differs(where + "at byte " + std::to_string(at) + " the template writes " + quotedSnippet(r.text, at) +
                    " where the layout writes " + quotedSnippet(expected, at),
                at);
    }
    if (!fit.difference.empty())
        return fit;
    fit.matches = true;
    fit.layout = layout;
    return fit;
}

// Every layout tried, in order; the first that reproduces all probes wins. Phi-3 comes before
// Zephyr: with eos "<|end|>" the two write the same text.
std::vector<ChatLayout> candidateLayouts(const std::string& bosToken, const std::string& eosToken)
{
    std::vector<ChatLayout> out;
    auto add = [&](ChatFamilyKind family, SystemPlacement placement) -> ChatLayout& {
        ChatLayout layout;
        layout.family = family;
        layout.systemPlacement = placement;
        layout.eosToken = eosToken;
        out.push_back(layout);
        return out.back();
    };
    add(ChatFamilyKind::ChatML, SystemPlacement::OwnTurn);
    add(ChatFamilyKind::Llama3, SystemPlacement::OwnTurn);
    for (const std::string& bos : {bosToken, std::string()}) {
        ChatLayout& l = add(ChatFamilyKind::Llama2, SystemPlacement::FirstUserTurn);
        l.instOpen = "[INST] ";
        l.instClose = " [/INST]";
        l.assistantOpen = " ";
        l.bosBetweenTurns = bos;
        if (bosToken.empty())
            break;
    }
    // Mistral releases: v0.1/v0.2 "[INST] u [/INST]a</s>" refusing a system message; their "v1"
    // revision " [INST] s\n\nu [/INST] a</s>"; v0.3 "[INST] s\n\nu[/INST] a</s>" with the system
    // prompt in the last user turn; Nemo "[INST]s\n\nu[/INST]a</s>".
    for (SystemPlacement placement :
         {SystemPlacement::LastUserTurn, SystemPlacement::FirstUserTurn, SystemPlacement::Refused})
        for (const char* open : {"[INST] ", " [INST] ", "[INST]"})
            for (const char* close : {" [/INST]", "[/INST]"})
                for (const char* assistantOpen : {" ", ""}) {
                    ChatLayout& l = add(ChatFamilyKind::Mistral, placement);
                    l.instOpen = open;
                    l.instClose = close;
                    l.assistantOpen = assistantOpen;
                }
    add(ChatFamilyKind::Phi3, SystemPlacement::OwnTurn);
    add(ChatFamilyKind::Zephyr, SystemPlacement::OwnTurn);
    add(ChatFamilyKind::Gemma, SystemPlacement::FirstUserTurn);
    add(ChatFamilyKind::Gemma, SystemPlacement::Refused);
    return out;
}

} // namespace

ChatFamilyMatch recognizeChatFamily(const std::string& jinjaSource, const std::string& bosToken,
                                    const std::string& eosToken)
{
    ChatFamilyMatch match;
    std::optional<ChatTemplate> tmpl;
    try {
        tmpl.emplace(ChatTemplate::compile(jinjaSource, "chat_template"));
    } catch (const std::exception& e) {
        match.reason = std::string("the template does not compile: ") + e.what();
        return match;
    }

    const std::vector<Probe> probeList = probes();
    std::vector<Rendering> rendered;
    for (const Probe& probe : probeList) {
        Rendering r;
        try {
            r.text = tmpl->render(probe.messages, true, bosToken, eosToken);
            if (!bosToken.empty() && r.text.compare(0, bosToken.size(), bosToken) == 0)
                r.text.erase(0, bosToken.size());
        } catch (const std::exception& e) {
            r.raised = true;
            r.error = e.what();
        }
        rendered.push_back(std::move(r));
    }
    for (size_t p = 0; p < probeList.size(); ++p)
        if (!probeList[p].hasSystem() && rendered[p].raised) {
            match.reason = std::string("the template raises on the probe conversation \"") + probeList[p].name +
                           "\": " + rendered[p].error;
            return match;
        }

    std::optional<Fit> nearest;
    for (const ChatLayout& candidate : candidateLayouts(bosToken, eosToken)) {
        Fit fit = fitLayout(candidate, probeList, rendered);
        if (fit.matches) {
            match.family = chatFamilyName(fit.layout.family);
            match.layout = fit.layout;
            match.defaultSystem = fit.defaultSystem;
            return match;
        }
        if (!nearest || fit.probesMatched > nearest->probesMatched ||
            (fit.probesMatched == nearest->probesMatched && fit.bytesMatched > nearest->bytesMatched)) {
            fit.layout = candidate;
            nearest = std::move(fit);
        }
    }
    match.reason = std::string("no known family renders the probe conversations the same; nearest is ") +
                   chatFamilyTitle(nearest->layout.family) + ", " + nearest->difference;
    return match;
}

} // namespace tb
