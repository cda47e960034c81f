#include "data/SegmentEncoder.h"

#include "tokenizer/Tokenizer.h"

#include <algorithm>

namespace tb {

SegmentEncoder::SegmentEncoder(const Tokenizer& tokenizer, const std::string& bosToken)
    : m_tokenizer(tokenizer), m_bosToken(bosToken)
{
    // The post-processor's prefix: encode a probe with and without special tokens and take
    // what comes before the plain ids.
    const std::string probe = "Hello world";
    const std::vector<int32_t> plain = tokenizer.encode(probe, false);
    const std::vector<int32_t> full = tokenizer.encode(probe, true);
    const auto at = std::search(full.begin(), full.end(), plain.begin(), plain.end());
    if (!plain.empty() && at != full.end())
        m_prefixIds.assign(full.begin(), at);
    for (int32_t id : m_prefixIds)
        m_prefixText += tokenizer.idToToken(id);
}

EncodedExample SegmentEncoder::encode(const std::vector<RenderedSegment>& segments) const
{
    EncodedExample out;
    const std::string head = segments.empty() ? std::string() : segments.front().text;
    const auto startsWith = [&](const std::string& prefix) {
        return !prefix.empty() && head.compare(0, prefix.size(), prefix) == 0;
    };
    if (!m_prefixIds.empty() && !startsWith(m_bosToken) && !startsWith(m_prefixText)) {
        out.ids = m_prefixIds;
        out.lossMask.assign(m_prefixIds.size(), 0);
        out.segments.push_back({m_prefixText, true, int64_t(m_prefixIds.size())});
    }
    for (const RenderedSegment& segment : segments) {
        const std::vector<int32_t> ids = m_tokenizer.encode(segment.text, false);
        out.ids.insert(out.ids.end(), ids.begin(), ids.end());
        out.lossMask.insert(out.lossMask.end(), ids.size(), segment.masked ? 0 : 1);
        out.segments.push_back({segment.text, segment.masked, int64_t(ids.size())});
    }
    // Nothing precedes the first token, so it is never predicted; in a packed sequence it
    // would be predicted from the previous example, which teaches nothing.
    if (!out.lossMask.empty())
        out.lossMask[0] = 0;
    return out;
}

} // namespace tb
