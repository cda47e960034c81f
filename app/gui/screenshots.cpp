// tunebench-screenshots: takes the README's screenshots of the real window. It drives the same
// MainWindow a user sees, on a tiny demo model and the shipped dataset in a temporary folder
// (settings in Qt's test location, so the user's own settings and database are not touched):
// the new-run form, the live monitor mid-run, the comparison of a LoRA and a QLoRA run, and the
// memory inspector. Documented command (docs/gui.md):
//   xvfb-run -a build/app/tunebench-screenshots --out docs/images
#include "CompareView.h"
#include "DatasetPreview.h"
#include "MainWindow.h"
#include "MemoryInspector.h"
#include "RunListPanel.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QEventLoop>
#include <QLineEdit>
#include <QPixmap>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>
#include <functional>

namespace {

// Runs the event loop until `done` holds (checked every 50 ms) or `seconds` pass.
bool waitFor(const std::function<bool()>& done, int seconds)
{
    QEventLoop loop;
    QTimer poll, limit;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done())
            loop.quit();
    });
    QObject::connect(&limit, &QTimer::timeout, &loop, &QEventLoop::quit);
    poll.start(50);
    limit.start(seconds * 1000);
    if (!done())
        loop.exec();
    return done();
}

void settle(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

bool save(QWidget* widget, const QString& path)
{
    settle(300); // queued replots and layouts
    const bool ok = widget->grab().save(path);
    std::printf("%s %s\n", ok ? "wrote" : "FAILED", qPrintable(path));
    return ok;
}

} // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName("Tunebench");
    QCommandLineParser parser;
    parser.setApplicationDescription("Takes the README's screenshots of the workbench.");
    parser.addHelpOption();
    QCommandLineOption outOption("out", "Folder for the PNG files.", "dir", "docs/images");
    QCommandLineOption stepsOption("steps", "Optimizer steps per run.", "n", "40");
    QCommandLineOption presetOption("preset", "Demo model preset: tiny or small (~82M parameters, shows the\n"
                                              "LoRA/QLoRA memory difference).", "name", "small");
    parser.addOption(outOption);
    parser.addOption(stepsOption);
    parser.addOption(presetOption);
    parser.process(app);
    QStandardPaths::setTestModeEnabled(true);
    tb::configureThreads(0);

    const QString out = QDir(parser.value(outOption)).absolutePath();
    QDir().mkpath(out);
    QTemporaryDir tmp;
    const QString preset = parser.value(presetOption);
    const QString model = tmp.filePath("demo-" + preset);
    tb::makeDemoModel(model.toStdString(), preset.toStdString(), 0);
    const QString db = tmp.filePath("tunebench.db");
    const int steps = parser.value(stepsOption).toInt();

    MainWindow window(model, nullptr, db);
    window.resize(1440, 900);
    window.show();
    TrainPanel* panel = window.trainPanel();
    TrainingWorker* worker = panel->worker();
    window.tabs()->setCurrentWidget(panel);
    if (!waitFor([&] { return panel->startButton()->isEnabled(); }, 120))
        return std::fprintf(stderr, "the model was not accepted by the form\n"), 1;

    bool running = false;
    QObject::connect(worker, &TrainingWorker::finished, [&] { running = false; });
    int lastStep = 0;
    QObject::connect(worker, &TrainingWorker::stepReported, [&](const tb::StepReport& r) { lastStep = int(r.step); });
    auto configure = [&](tb::TrainMethod method) {
        tb::TrainConfig c = panel->config();
        c.method = method;
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.maxSteps = steps;
        c.batchSize = 4;
        c.data.maxSeqLen = 128;
        c.evalEvery = std::max(1, steps / 6);
        c.learningRate = 1e-3;
        c.threads = 0; // all cores, whatever an earlier test left in the test settings
        c.outputDir.clear();
        panel->setConfig(c);
    };

    configure(tb::TrainMethod::Lora);
    bool previewed = false;
    QObject::connect(window.datasetPreview(), &DatasetPreview::previewReady, [&] { previewed = true; });
    waitFor([&] { return previewed; }, 60);
    bool ok = save(&window, out + "/workbench-new-run.png");

    auto train = [&](tb::TrainMethod method, const QString& midRunShot) {
        configure(method);
        lastStep = 0;
        running = true;
        if (!panel->startRun(panel->config(), false))
            return false;
        if (!midRunShot.isEmpty()) {
            waitFor([&] { return lastStep >= steps / 2 || !running; }, 600);
            ok = save(&window, midRunShot) && ok;
        }
        return waitFor([&] { return !running; }, 1200);
    };
    if (!train(tb::TrainMethod::Lora, out + "/workbench-live-monitor.png") || !train(tb::TrainMethod::Qlora, QString()))
        return std::fprintf(stderr, "a training run did not finish\n"), 1;

    QList<qint64> ids;
    {
        tb::RunStore store(db.toStdString());
        for (const tb::RunSummary& run : tb::RunQueries(store.database()).listRuns())
            ids.prepend(run.id); // oldest (LoRA) first
    }
    bool compared = false;
    QObject::connect(window.compareView(), &CompareView::loaded, [&] { compared = true; });
    window.runListPanel()->refresh();
    window.compareRuns(ids);
    waitFor([&] { return compared; }, 60);
    ok = save(&window, out + "/workbench-compare.png") && ok;

    bool inspected = false;
    QObject::connect(window.memoryInspector(), &MemoryInspector::loaded, [&] { inspected = true; });
    window.showMemory(ids.first());
    waitFor([&] { return inspected; }, 60);
    ok = save(&window, out + "/workbench-memory.png") && ok;

    window.tabs()->setCurrentWidget(window.runListPanel());
    ok = save(&window, out + "/workbench-runs.png") && ok;
    return ok ? 0 : 1;
}
