// tunebench: the desktop workbench. `tunebench [--model DIR]`; without --model it opens the
// built-in demo model (made on first start).
#include "MainWindow.h"

#include "core/ThreadPoolEnvironment.h"
#include "core/ThreadSettings.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

int main(int argc, char** argv)
{
    tb::ensureThreadPoolEnvironment(argv); // may start this program afresh: before Qt starts
    QApplication app(argc, argv);
    QApplication::setApplicationName("Tunebench");
    QApplication::setOrganizationName("Tunebench");
    QApplication::setApplicationVersion(TUNEBENCH_VERSION);
    QApplication::setWindowIcon(QIcon(":/icons/tunebench-256.png"));
    QGuiApplication::setDesktopFileName("tunebench"); // matches installer/tunebench.desktop

    QCommandLineParser parser;
    parser.setApplicationDescription("Tunebench: fine-tune language models with LoRA and QLoRA.");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption modelOption("model", "Hugging Face model folder to open (default: the built-in demo model).", "dir");
    QCommandLineOption threadsOption("threads", "CPU threads for LibTorch (default: all cores).", "n", "0");
    parser.addOption(modelOption);
    parser.addOption(threadsOption);
    parser.process(app);

    tb::configureThreads(parser.value(threadsOption).toInt());
    MainWindow window(parser.value(modelOption));
    window.show();
    return app.exec();
}
