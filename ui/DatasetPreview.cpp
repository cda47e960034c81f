#include "DatasetPreview.h"

#include "QCustomPlotCompat.h"

#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QStackedWidget>
#include <QTextBrowser>
#include <QTextCursor>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <mutex>

namespace {

constexpr int kDebounceMs = 200;
constexpr int kShownWarnings = 5;

// The text view's look; the legend uses the same colours.
const QColor kMaskedText(0x80, 0x80, 0x80);
const QColor kTrainedBackground(0xd4, 0xf4, 0xcc);
const QColor kSpecialMasked(0x50, 0x68, 0xa8);
const QColor kSpecialTrained(0x1a, 0x3a, 0x8a);

struct LoadedTokenizer {
    tb::Tokenizer tokenizer;
    tb::TokenizerConfig config;
    QStringList specialTokens; // strings of the added tokens marked special, longest first
};

// Files whose change invalidates what was computed from them: path, size, modification time.
QString fileStamp(const QString& path)
{
    if (path.isEmpty())
        return {};
    const QFileInfo info(path);
    return path + '@' + QString::number(info.size()) + '@' + QString::number(info.lastModified().toMSecsSinceEpoch());
}

QString requestStamp(const DatasetPreview::Inputs& in)
{
    const tb::DatasetOptions& o = in.options;
    return QStringList{fileStamp(QDir(in.modelDir).filePath("tokenizer.json")),
                       fileStamp(QDir(in.modelDir).filePath("tokenizer_config.json")),
                       fileStamp(in.dataPath),
                       fileStamp(in.validationPath),
                       QString::fromLatin1(tb::datasetFormatName(o.format)),
                       QString::number(o.maxSeqLen),
                       QString::number(o.trainOnPrompt),
                       QString::number(o.pack),
                       QString::number(o.validationFraction, 'g', 17),
                       QString::number(o.splitSeed)}
        .join('|');
}

QString percent(int64_t part, int64_t whole)
{
    return whole > 0 ? QString::number(100.0 * double(part) / double(whole), 'f', 1) + '%' : QStringLiteral("0%");
}

} // namespace

// Tokenizers by model folder, reused while the folder's tokenizer files are unchanged. Used on
// pool threads only; guarded by `mutex`.
struct DatasetPreview::TokenizerCache {
    std::mutex mutex;
    QString key; // tokenizer files' stamps
    std::shared_ptr<const LoadedTokenizer> loaded;

    std::shared_ptr<const LoadedTokenizer> get(const QString& modelDir)
    {
        const QString tokenizerPath = QDir(modelDir).filePath("tokenizer.json");
        const QString configPath = QDir(modelDir).filePath("tokenizer_config.json");
        const QString stamp = fileStamp(tokenizerPath) + '|' + fileStamp(configPath);
        std::lock_guard<std::mutex> lock(mutex);
        if (loaded && key == stamp)
            return loaded;
        auto fresh = std::make_shared<LoadedTokenizer>(LoadedTokenizer{
            tb::Tokenizer::fromFile(tokenizerPath.toStdString()), tb::TokenizerConfig::fromFile(configPath.toStdString()), {}});
        for (size_t id = 0; id < fresh->tokenizer.vocabSize(); ++id)
            if (fresh->tokenizer.isSpecial(int32_t(id)))
                fresh->specialTokens << QString::fromStdString(fresh->tokenizer.idToToken(int32_t(id)));
        // Longest first, so a token that contains a shorter one is matched whole.
        std::sort(fresh->specialTokens.begin(), fresh->specialTokens.end(),
                  [](const QString& a, const QString& b) { return a.size() > b.size(); });
        fresh->specialTokens.removeAll(QString());
        key = stamp;
        loaded = std::move(fresh);
        return loaded;
    }
};

struct DatasetPreview::Result {
    quint64 generation = 0;
    QString error; // non-empty: the inputs cannot be used
    QString format;
    int64_t maxSeqLen = 0;
    bool separateValidation = false;
    double validationFraction = 0;
    bool pack = false;
    tb::DatasetStats train, validation;
    std::vector<tb::RenderedRecord> records;
    QStringList specialTokens;
};

namespace {

// Pool thread: everything slow. Owns copies of its inputs; shares only the tokenizer cache.
std::shared_ptr<const DatasetPreview::Result> runPreviewJob(const DatasetPreview::Inputs& in, quint64 generation,
                                                            std::shared_ptr<DatasetPreview::TokenizerCache> cache)
{
    auto r = std::make_shared<DatasetPreview::Result>();
    r->generation = generation;
    r->maxSeqLen = in.options.maxSeqLen;
    r->separateValidation = !in.validationPath.isEmpty();
    r->validationFraction = in.options.validationFraction;
    r->pack = in.options.pack;
    try {
        const std::shared_ptr<const LoadedTokenizer> tok = cache->get(in.modelDir);
        tb::PreparedDataset data = tb::prepareDataset(in.dataPath.toStdString(), in.validationPath.toStdString(),
                                                      tok->tokenizer, tok->config, in.options);
        r->format = QString::fromLatin1(tb::datasetFormatName(data.format));
        r->train = std::move(data.trainStats);
        r->validation = std::move(data.validationStats);
        data = {}; // the tokenized examples are not needed: free them before rendering
        r->records = tb::renderRecordSegments(in.dataPath.toStdString(), tok->tokenizer, tok->config, in.options,
                                              DatasetPreview::kShownRecords);
        r->specialTokens = tok->specialTokens;
    } catch (const std::exception& e) {
        r->error = QString::fromStdString(e.what());
        if (r->error.isEmpty())
            r->error = QObject::tr("unknown error reading %1").arg(in.dataPath);
    }
    return r;
}

} // namespace

DatasetPreview::DatasetPreview(QWidget* parent)
    : QWidget(parent), m_tokenizers(std::make_shared<TokenizerCache>())
{
    // Everything wraps or shrinks: the preview sits inside the new-run form, whose width is the
    // pane's (tst_workbench: the form fits its pane with the preview shown).
    m_status = new QLabel(this);
    m_status->setStyleSheet("color: gray;");
    m_status->setWordWrap(true);
    m_format = new QLabel(this);
    m_format->setWordWrap(true);

    // Page 0: the preview itself.
    auto* previewPage = new QWidget(this);
    auto* countsForm = new QFormLayout;
    const char* countNames[] = {QT_TR_NOOP("Records:"), QT_TR_NOOP("Train / validation:"), QT_TR_NOOP("Skipped:"),
                                QT_TR_NOOP("Truncated:"), QT_TR_NOOP("Tokens:"), QT_TR_NOOP("In the loss:")};
    for (int i = 0; i < 6; ++i) {
        m_counts[i] = new QLabel(previewPage);
        m_counts[i]->setTextInteractionFlags(Qt::TextSelectableByMouse);
        countsForm->addRow(tr(countNames[i]), m_counts[i]);
    }
    m_warnings = new QLabel(previewPage);
    m_warnings->setTextFormat(Qt::PlainText);
    m_warnings->setWordWrap(true);
    m_warnings->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_warnings->setStyleSheet("color: #a05000;");
    auto* countsColumn = new QVBoxLayout;
    countsColumn->addWidget(m_format);
    countsColumn->addLayout(countsForm);
    countsColumn->addWidget(m_warnings);
    countsColumn->addStretch(1);

    m_plot = new QCustomPlot(previewPage);
    m_plot->setMinimumSize(200, 160);
    m_plot->setNotAntialiasedElements(QCP::aeAll);
    m_plot->xAxis->setLabel(tr("tokens per example (before truncation)"));
    m_plot->yAxis->setLabel(tr("examples"));
    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(QColor(0x5a, 0x8f, 0xd0));
    m_seqLenLine = new QCPItemStraightLine(m_plot);
    m_seqLenLine->setPen(QPen(QColor(0xc0, 0x30, 0x30), 1.5, Qt::DashLine));
    m_truncationText = new QCPItemText(m_plot);
    m_truncationText->position->setTypeX(QCPItemPosition::ptPlotCoords);
    m_truncationText->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    m_truncationText->setColor(QColor(0xc0, 0x30, 0x30));
    m_truncationText->setPadding(QMargins(4, 2, 4, 2));
    m_truncationText->setClipToAxisRect(false);
    m_truncationText->setBrush(QColor(255, 255, 255, 220)); // readable over the bars

    // Counts above the histogram, not beside it: side by side they set a minimum width wider
    // than the form's pane.
    auto* top = new QVBoxLayout;
    top->addLayout(countsColumn);
    top->addWidget(m_plot, 1);

    auto* legend = new QLabel(previewPage);
    legend->setTextFormat(Qt::RichText);
    legend->setText(tr("First %1 records as the model sees them: "
                       "<span style=\"color:%2\">grey: masked, no loss (prompt, template markup, BOS)</span>; "
                       "<b><span style=\"background-color:%3\">bold on green: trained (in the loss)</span></b>; "
                       "<i><span style=\"color:%4\">special tokens in blue italics</span></i>.")
                        .arg(kShownRecords)
                        .arg(kMaskedText.name(), kTrainedBackground.name(), kSpecialMasked.name()));
    legend->setWordWrap(true);

    m_text = new QTextBrowser(previewPage);
    m_text->setReadOnly(true);
    m_text->setOpenLinks(false);
    m_text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_text->setMinimumHeight(160);
    m_text->setLineWrapMode(QTextEdit::WidgetWidth);

    auto* previewLayout = new QVBoxLayout(previewPage);
    previewLayout->setContentsMargins(0, 0, 0, 0);
    previewLayout->addLayout(top);
    previewLayout->addWidget(legend);
    previewLayout->addWidget(m_text, 1);

    // Page 1: a message instead of the preview (no inputs yet, or the file's error).
    auto* messagePage = new QWidget(this);
    m_error = new QLabel(messagePage);
    m_error->setTextFormat(Qt::PlainText);
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    auto* messageLayout = new QVBoxLayout(messagePage);
    messageLayout->addWidget(m_error);
    messageLayout->addStretch(1);

    m_pages = new QStackedWidget(this);
    m_pages->addWidget(previewPage);
    m_pages->addWidget(messagePage);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_status);
    layout->addWidget(m_pages, 1);

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(kDebounceMs);
    connect(&m_debounce, &QTimer::timeout, this, [this] {
        if (!m_watcher->isRunning())
            startJob();
        // else: jobFinished starts the latest request when the running job ends
    });
    m_watcher = new QFutureWatcher<std::shared_ptr<const Result>>(this);
    connect(m_watcher, &QFutureWatcherBase::finished, this, &DatasetPreview::jobFinished);

    m_error->setStyleSheet("color: gray;");
    m_error->setText(tr("Choose a dataset file to preview it."));
    m_pages->setCurrentIndex(1);
}

DatasetPreview::~DatasetPreview() = default;

QLabel* DatasetPreview::countLabel(Count which) const
{
    return m_counts[int(which)];
}

bool DatasetPreview::showsError() const
{
    return m_pages->currentIndex() == 1 && m_haveResult;
}

bool DatasetPreview::jobRunning() const
{
    return m_watcher->isRunning();
}

void DatasetPreview::setInputs(const QString& modelDir, const QString& dataPath, const QString& validationPath,
                               const tb::DatasetOptions& options)
{
    Inputs in{modelDir, dataPath, validationPath, options};
    const QString stamp = requestStamp(in);
    if (stamp == m_stamp && (m_pendingStart || m_watcher->isRunning() || m_haveResult))
        return; // the same request (same files, unchanged on disk) is on display or on its way
    m_stamp = stamp;
    m_inputs = std::move(in);
    ++m_generation; // whatever is running now is stale
    if (modelDir.isEmpty() || dataPath.isEmpty()) {
        m_debounce.stop();
        m_pendingStart = false;
        m_haveResult = false;
        m_train = m_validation = {};
        m_status->clear();
        m_error->setStyleSheet("color: gray;");
        m_error->setText(modelDir.isEmpty() ? tr("Load a model to preview the dataset with its tokenizer.")
                                            : tr("Choose a dataset file to preview it."));
        m_pages->setCurrentIndex(1);
        return;
    }
    m_pendingStart = true;
    m_status->setText(tr("Reading %1 ...").arg(QFileInfo(dataPath).fileName()));
    m_debounce.start(); // restarts: a burst of calls starts one job, 200 ms after the last
}

void DatasetPreview::refresh()
{
    if (m_inputs.dataPath.isEmpty() || m_inputs.modelDir.isEmpty())
        return;
    m_stamp.clear();
    const Inputs in = m_inputs;
    setInputs(in.modelDir, in.dataPath, in.validationPath, in.options);
}

void DatasetPreview::startJob()
{
    m_pendingStart = false;
    m_watcher->setFuture(QtConcurrent::run(runPreviewJob, m_inputs, m_generation, m_tokenizers));
}

void DatasetPreview::jobFinished()
{
    const std::shared_ptr<const Result> result = m_watcher->result();
    if (result->generation == m_generation) {
        m_haveResult = true;
        m_status->clear();
        if (!result->error.isEmpty()) {
            showError(result->error);
            Q_EMIT previewFailed(result->error);
        } else {
            showResult(*result);
            Q_EMIT previewReady(m_train, m_validation, result->format);
        }
        return;
    }
    // Stale: dropped. The latest request starts now unless its debounce is still counting.
    if (m_pendingStart && !m_debounce.isActive())
        startJob();
}

void DatasetPreview::showError(const QString& message)
{
    m_train = m_validation = {};
    m_error->setStyleSheet("color: #c03030;");
    m_error->setText(tr("This dataset cannot be used:\n%1").arg(message));
    m_pages->setCurrentIndex(1);
}

void DatasetPreview::showResult(const Result& r)
{
    m_train = r.train;
    m_validation = r.validation;
    const tb::DatasetStats& t = r.train;
    const tb::DatasetStats& v = r.validation;
    const bool detected = m_inputs.options.format == tb::DatasetFormat::Auto;
    m_format->setText(tr("Format: <b>%1</b> (%2), sequence length %3%4")
                          .arg(r.format, detected ? tr("detected") : tr("chosen"))
                          .arg(r.maxSeqLen)
                          .arg(r.pack ? tr(", packed") : QString()));

    const int64_t records = t.records + v.records;
    const int64_t tokens = t.tokens + v.tokens;
    const int64_t truncated = t.truncated + v.truncated;
    const int64_t lossTokens = t.lossTokens + v.lossTokens;
    m_counts[Records]->setText(QString::number(records));
    QString split = tr("%1 / %2").arg(t.records).arg(v.records);
    split += r.separateValidation ? tr(" (validation file)")
                                  : tr(" (%1% split off)").arg(QString::number(100.0 * r.validationFraction, 'g', 3));
    if (r.pack)
        split += tr(", packed into %1 / %2 sequences").arg(t.sequences).arg(v.sequences);
    m_counts[Split]->setText(split);
    m_counts[Skipped]->setText(QString::number(t.skipped + v.skipped));
    m_counts[Truncated]->setText(
        tr("%1 (%2) at %3 tokens").arg(truncated).arg(percent(truncated, records)).arg(r.maxSeqLen));
    m_counts[Truncated]->setStyleSheet(truncated > 0 ? "color: #c03030;" : "");
    m_counts[Tokens]->setText(QString::number(tokens));
    m_counts[LossTokens]->setText(tr("%1 (%2 of the tokens)").arg(lossTokens).arg(percent(lossTokens, tokens)));

    QStringList warnings;
    for (const auto& w : t.warnings)
        warnings << QString::fromStdString(w);
    for (const auto& w : v.warnings)
        warnings << QString::fromStdString(w);
    const int64_t allWarnings = int64_t(warnings.size()) + t.warningsOmitted + v.warningsOmitted;
    QString warningText = warnings.mid(0, kShownWarnings).join('\n');
    if (allWarnings > kShownWarnings)
        warningText += tr("\n... and %1 more").arg(allWarnings - kShownWarnings);
    m_warnings->setText(warningText);
    m_warnings->setVisible(!warnings.isEmpty());

    showHistogram(t, v, r.maxSeqLen);
    showRecords(r.records, r.maxSeqLen, r.specialTokens);
    m_pages->setCurrentIndex(0);
}

void DatasetPreview::showHistogram(const tb::DatasetStats& train, const tb::DatasetStats& validation, int64_t maxSeqLen)
{
    // Both splits have the same bucket width (a function of maxSeqLen only).
    const double width = double(train.histogramBucket);
    std::vector<int64_t> counts(std::max(train.lengthHistogram.size(), validation.lengthHistogram.size()), 0);
    for (size_t i = 0; i < train.lengthHistogram.size(); ++i)
        counts[i] += train.lengthHistogram[i];
    for (size_t i = 0; i < validation.lengthHistogram.size(); ++i)
        counts[i] += validation.lengthHistogram[i];
    QVector<double> keys, values;
    double most = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0)
            continue;
        keys << (double(i) + 0.5) * width; // bar centred on its bucket [i*w, (i+1)*w)
        values << double(counts[i]);
        most = std::max(most, double(counts[i]));
    }
    m_bars->setWidth(width);
    m_bars->setData(keys, values, true);

    // From a bucket below the shortest example (or a little below the line, if that is lower)
    // to a bucket past the longest, the line always in view.
    const double right = std::max(double(maxSeqLen) * 1.1, double(counts.size()) * width + width);
    const double shortest = keys.isEmpty() ? 0.0 : keys.first() - 1.5 * width;
    const double left = std::max(0.0, std::min(shortest, double(maxSeqLen) * 0.9));
    m_plot->xAxis->setRange(left, right);
    m_plot->yAxis->setRange(0, std::max(1.0, most * 1.15));
    m_seqLenLine->point1->setCoords(double(maxSeqLen), 0);
    m_seqLenLine->point2->setCoords(double(maxSeqLen), 1);

    const int64_t records = train.records + validation.records;
    const int64_t truncated = train.truncated + validation.truncated;
    m_truncationText->setText(tr("max %1 tokens\n%2 truncated (%3)").arg(maxSeqLen).arg(truncated).arg(percent(truncated, records)));
    // Text on the side of the line with more room.
    const bool leftOfLine = double(maxSeqLen) > (left + right) / 2;
    m_truncationText->setPositionAlignment(Qt::AlignTop | (leftOfLine ? Qt::AlignRight : Qt::AlignLeft));
    m_truncationText->setTextAlignment(leftOfLine ? Qt::AlignRight : Qt::AlignLeft);
    m_truncationText->position->setCoords(double(maxSeqLen), 0.02);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void DatasetPreview::showRecords(const std::vector<tb::RenderedRecord>& records, int64_t maxSeqLen,
                                 const QStringList& specialTokens)
{
    m_text->clear();
    QTextCursor cursor(m_text->document());
    QTextCharFormat header;
    header.setForeground(QColor(0x60, 0x60, 0x60));
    header.setFontItalic(true);
    QTextCharFormat problem = header;
    problem.setForeground(QColor(0xc0, 0x30, 0x30));
    QTextCharFormat masked;
    masked.setForeground(kMaskedText);
    masked.setProperty(kSegmentRole, QStringLiteral("masked"));
    QTextCharFormat trained;
    trained.setForeground(QColor(Qt::black));
    trained.setBackground(kTrainedBackground);
    trained.setFontWeight(QFont::Bold);
    trained.setProperty(kSegmentRole, QStringLiteral("trained"));

    // Inserts `text` in `base`, its special tokens in blue italics (same role and background).
    auto insertPiece = [&](const QString& text, const QTextCharFormat& base, const QColor& specialColour) {
        QTextCharFormat special = base;
        special.setForeground(specialColour);
        special.setFontItalic(true);
        int at = 0;
        while (at < text.size()) {
            int next = -1;
            QString token;
            for (const QString& s : specialTokens) { // longest first: the first match at the earliest place wins
                const int found = text.indexOf(s, at);
                if (found >= 0 && (next < 0 || found < next)) {
                    next = found;
                    token = s;
                }
            }
            if (next < 0) {
                cursor.insertText(text.mid(at), base);
                return;
            }
            if (next > at)
                cursor.insertText(text.mid(at, next - at), base);
            cursor.insertText(token, special);
            at = next + int(token.size());
        }
    };

    bool first = true;
    for (const tb::RenderedRecord& record : records) {
        if (!first)
            cursor.insertBlock();
        first = false;
        int64_t tokens = 0;
        for (const auto& s : record.segments)
            tokens += s.tokens;
        if (!record.skipReason.empty()) {
            cursor.insertText(tr("line %1: skipped: %2").arg(record.sourceLine).arg(QString::fromStdString(record.skipReason)),
                              problem);
            cursor.insertBlock();
            continue;
        }
        QString title = tr("line %1, %2 tokens").arg(record.sourceLine).arg(tokens);
        if (tokens > maxSeqLen)
            title += tr(", cut at %1: the rest is not seen").arg(maxSeqLen);
        cursor.insertText(title, header);
        cursor.insertBlock();
        for (const auto& s : record.segments) {
            const QString text = QString::fromStdString(s.text);
            if (s.masked)
                insertPiece(text, masked, kSpecialMasked);
            else
                insertPiece(text, trained, kSpecialTrained);
        }
        cursor.insertBlock(); // a blank line between records
    }
    m_text->moveCursor(QTextCursor::Start);
}
