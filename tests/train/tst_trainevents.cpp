// The event stream of `tunebench-cli train --json` (train/TrainEvents): every event survives
// encode -> decode with every field; lines that are not events are skipped; an event of another
// stream version, an unknown event and a key of the wrong type are FormatErrors naming the
// source, the event and the key; the writer keeps going when its reader has gone.
#include "formats/FormatError.h"
#include "train/TrainEvents.h"

#include <QTest>

#include <csignal>
#include <cstdio>
#include <unistd.h>

using namespace tb;

namespace {

template <class T> T roundTrip(const TrainEvent& event)
{
    const std::string line = encodeTrainEvent(event);
    if (line.find('\n') != std::string::npos)
        throw std::runtime_error("an event spans lines: " + line);
    const std::optional<TrainEvent> back = decodeTrainEvent(line);
    if (!back || !std::holds_alternative<T>(*back))
        throw std::runtime_error("did not decode as the same event: " + line);
    return std::get<T>(*back);
}

// Records the sink call each event reaches.
struct CallRecorder : TrainEventSink {
    std::vector<std::string> calls;
    void onRun(const RunEvent&) override { calls.push_back("run"); }
    void onStart(const StartReport&) override { calls.push_back("start"); }
    void onStep(const StepReport&) override { calls.push_back("step"); }
    void onEval(const EvalReport&) override { calls.push_back("eval"); }
    void onMemory(const MemorySample&) override { calls.push_back("memory"); }
    void onLog(LogLevel, const std::string&) override { calls.push_back("log"); }
    void onCheckpoint(const std::string&, int64_t) override { calls.push_back("checkpoint"); }
    void onPauseChanged(bool, int64_t) override { calls.push_back("pause"); }
    void onEnd(const EndEvent&) override { calls.push_back("end"); }
};

} // namespace

class TestTrainEvents : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void everyEventRoundTrips()
    {
        const RunEvent run = roundTrip<RunEvent>(RunEvent{17, 4242, "/runs/a b", "qlora"});
        QCOMPARE(run.runId, int64_t(17));
        QCOMPARE(run.pid, int64_t(4242));
        QCOMPARE(run.outputDir, std::string("/runs/a b"));
        QCOMPARE(run.method, std::string("qlora"));

        StartReport start;
        start.totalSteps = 150;
        start.startStep = 40;
        start.trainableParameters = 123456789012;
        start.device = "cuda:1";
        start.deviceName = "NVIDIA H200";
        start.deviceTotalBytes = int64_t(141) << 30;
        const StartReport s = roundTrip<StartReport>(start);
        QCOMPARE(s.totalSteps, start.totalSteps);
        QCOMPARE(s.startStep, start.startStep);
        QCOMPARE(s.trainableParameters, start.trainableParameters);
        QCOMPARE(s.device, start.device);
        QCOMPARE(s.deviceName, start.deviceName);
        QCOMPARE(s.deviceTotalBytes, start.deviceTotalBytes);

        StepReport step;
        step.step = 7;
        step.totalSteps = 9;
        step.epoch = 0.625;
        step.tokensSeen = 1 << 20;
        step.loss = 2.3456789012345;
        step.learningRate = 1.5e-4;
        step.gradNorm = 0.75;
        step.tokensPerSecond = 912.5;
        step.elapsedSeconds = 33.25;
        step.skipped = true;
        const StepReport st = roundTrip<StepReport>(step);
        QCOMPARE(st.step, step.step);
        QCOMPARE(st.totalSteps, step.totalSteps);
        QCOMPARE(st.epoch, step.epoch);
        QCOMPARE(st.tokensSeen, step.tokensSeen);
        QCOMPARE(st.loss, step.loss); // doubles are written exactly (shortest round-trip form)
        QCOMPARE(st.learningRate, step.learningRate);
        QCOMPARE(st.gradNorm, step.gradNorm);
        QCOMPARE(st.tokensPerSecond, step.tokensPerSecond);
        QCOMPARE(st.elapsedSeconds, step.elapsedSeconds);
        QCOMPARE(st.skipped, true);
        QVERIFY(st.workerTokensPerSecond.empty()); // one process: no per-worker figures
        QVERIFY(encodeTrainEvent(step).find("worker_tokens_per_second") == std::string::npos);
        step.workerTokensPerSecond = {455.25, 460.5};
        QCOMPARE(roundTrip<StepReport>(step).workerTokensPerSecond, step.workerTokensPerSecond);

        const EvalReport e = roundTrip<EvalReport>(EvalReport{5, 1.25, 3.4903, 4096});
        QCOMPARE(e.step, int64_t(5));
        QCOMPARE(e.loss, 1.25);
        QCOMPARE(e.perplexity, 3.4903);
        QCOMPARE(e.tokens, int64_t(4096));

        MemorySample cpu;
        cpu.step = 3;
        cpu.elapsedSeconds = 1.5;
        cpu.baseWeightBytes = 1000;
        cpu.adapterBytes = 200;
        cpu.gradientBytes = 30;
        cpu.optimizerBytes = 4;
        cpu.residentBytes = 5 << 20;
        cpu.peakResidentBytes = 6 << 20;
        const MemorySample m = roundTrip<MemorySample>(cpu);
        QCOMPARE(m.baseWeightBytes, cpu.baseWeightBytes);
        QCOMPARE(m.adapterBytes, cpu.adapterBytes);
        QCOMPARE(m.gradientBytes, cpu.gradientBytes);
        QCOMPARE(m.optimizerBytes, cpu.optimizerBytes);
        QCOMPARE(m.residentBytes, cpu.residentBytes);
        QCOMPARE(m.peakResidentBytes, cpu.peakResidentBytes);
        QCOMPARE(m.cudaAllocatedBytes, int64_t(-1)); // absent on the CPU, not 0
        MemorySample cuda = cpu;
        cuda.cudaAllocatedBytes = 7;
        cuda.cudaReservedBytes = 8;
        cuda.cudaPeakAllocatedBytes = 9;
        const MemorySample c = roundTrip<MemorySample>(cuda);
        QCOMPARE(c.cudaAllocatedBytes, int64_t(7));
        QCOMPARE(c.cudaReservedBytes, int64_t(8));
        QCOMPARE(c.cudaPeakAllocatedBytes, int64_t(9));
        QCOMPARE(c.worker, 0);
        // A data-parallel run's rank 0 writes one memory event per worker: the rank survives.
        MemorySample third = cuda;
        third.worker = 2;
        QCOMPARE(roundTrip<MemorySample>(third).worker, 2);
        QVERIFY(encodeTrainEvent(third).find("\"worker\":2") != std::string::npos);

        const LogEvent log = roundTrip<LogEvent>(LogEvent{LogLevel::Warning, "line one\nline \"two\" \xc3\xa9"});
        QCOMPARE(log.level, LogLevel::Warning);
        QCOMPARE(log.message, std::string("line one\nline \"two\" \xc3\xa9"));
        QCOMPARE(roundTrip<LogEvent>(LogEvent{LogLevel::Error, "x"}).level, LogLevel::Error);

        const CheckpointEvent cp = roundTrip<CheckpointEvent>(CheckpointEvent{40, "/runs/a/checkpoints/step-00000040"});
        QCOMPARE(cp.step, int64_t(40));
        QCOMPARE(cp.path, std::string("/runs/a/checkpoints/step-00000040"));

        const PauseEvent p = roundTrip<PauseEvent>(PauseEvent{true, 12});
        QCOMPARE(p.paused, true);
        QCOMPARE(p.step, int64_t(12));

        EndEvent end;
        end.runId = 3;
        end.result.status = TrainStatus::Cancelled;
        end.result.reason = "cancelled at step 4";
        end.result.step = 4;
        end.result.totalSteps = 10;
        end.result.tokensSeen = 999;
        end.result.trainableParameters = 55;
        end.result.lastLoss = 1.5;
        end.result.lastValidationLoss = 1.75;
        end.result.bestValidationLoss = 1.625;
        end.result.wallSeconds = 12.5;
        end.result.adapterDir = "/runs/a/adapter";
        end.result.lastCheckpoint = "/runs/a/checkpoints/step-00000004";
        const EndEvent en = roundTrip<EndEvent>(end);
        QCOMPARE(en.runId, int64_t(3));
        QCOMPARE(en.result.status, TrainStatus::Cancelled);
        QCOMPARE(en.result.reason, end.result.reason);
        QCOMPARE(en.result.step, int64_t(4));
        QCOMPARE(en.result.totalSteps, int64_t(10));
        QCOMPARE(en.result.tokensSeen, int64_t(999));
        QCOMPARE(en.result.trainableParameters, int64_t(55));
        QCOMPARE(en.result.lastLoss, 1.5);
        QCOMPARE(en.result.lastValidationLoss, 1.75);
        QCOMPARE(en.result.bestValidationLoss, 1.625);
        QCOMPARE(en.result.wallSeconds, 12.5);
        QCOMPARE(en.result.adapterDir, end.result.adapterDir);
        QCOMPARE(en.result.lastCheckpoint, end.result.lastCheckpoint);
    }

    void eachEventReachesItsSinkMethod()
    {
        CallRecorder sink;
        const std::vector<TrainEvent> events = {RunEvent{}, StartReport{}, StepReport{}, EvalReport{}, MemorySample{},
                                                LogEvent{}, CheckpointEvent{}, PauseEvent{}, EndEvent{}};
        for (const TrainEvent& e : events)
            deliverTrainEvent(*decodeTrainEvent(encodeTrainEvent(e)), sink);
        QCOMPARE(sink.calls, (std::vector<std::string>{"run", "start", "step", "eval", "memory", "log", "checkpoint", "pause", "end"}));
    }

    void aMemoryEventWithoutWorkerIsWorkerZero()
    {
        // A stream written before data-parallel runs has no "worker": the one process, rank 0.
        const auto back = decodeTrainEvent(R"({"v": 1, "event": "memory", "step": 4, "rss": 1024})");
        QVERIFY(back && std::holds_alternative<MemorySample>(*back));
        QCOMPARE(std::get<MemorySample>(*back).worker, 0);
        QCOMPARE(std::get<MemorySample>(*back).residentBytes, int64_t(1024));
        QVERIFY_THROWS_EXCEPTION(FormatError, decodeTrainEvent(R"({"v": 1, "event": "memory", "worker": "one"})"));
    }

    void linesThatAreNotEventsAreSkipped()
    {
        for (const char* line : {"", "hello", "[1,2]", "{\"v\": 1}", "{\"event\": 3}", "42", "{\"event\": \"step\""})
            QVERIFY2(!decodeTrainEvent(line), line);
    }

    void wrongVersionUnknownEventAndWrongTypesAreNamed()
    {
        auto message = [](const std::string& line) -> std::string {
            try {
                decodeTrainEvent(line, "child 12");
            } catch (const FormatError& e) {
                return e.what();
            }
            return "no error";
        };
        const std::string older = message(R"({"event": "step", "step": 1})");
        QVERIFY2(older.find("child 12") == 0 && older.find("version 0") != std::string::npos && older.find("reads version 1") != std::string::npos,
                 older.c_str());
        const std::string newer = message(R"({"v": 2, "event": "step", "step": 1})");
        QVERIFY2(newer.find("version 2") != std::string::npos, newer.c_str());
        const std::string unknown = message(R"({"v": 1, "event": "teleport"})");
        QVERIFY2(unknown.find("unknown event \"teleport\"") != std::string::npos, unknown.c_str());
        const std::string type = message(R"({"v": 1, "event": "step", "step": "seven"})");
        QVERIFY2(type.find("event \"step\"") != std::string::npos && type.find("key \"step\"") != std::string::npos, type.c_str());
    }

    void invalidUtf8IsReplacedNotThrown()
    {
        const std::string line = encodeTrainEvent(LogEvent{LogLevel::Info, std::string("bad \xff byte")});
        const auto back = decodeTrainEvent(line);
        QVERIFY(back && std::holds_alternative<LogEvent>(*back));
        QVERIFY(std::get<LogEvent>(*back).message.rfind("bad ", 0) == 0);
    }

    void theWriterOutlivesItsReader()
    {
        // The workbench closed with "keep training": the pipe's reader is gone. Writes fail with
        // EPIPE (SIGPIPE ignored, as the CLI does), the writer detaches and the run goes on.
        std::signal(SIGPIPE, SIG_IGN);
        int fds[2];
        QCOMPARE(::pipe(fds), 0);
        std::FILE* out = ::fdopen(fds[1], "w");
        QVERIFY(out);
        TrainEventWriter writer(out);
        writer.onLog(LogLevel::Info, "first");
        char buffer[256] = {};
        const ssize_t got = ::read(fds[0], buffer, sizeof buffer - 1);
        QVERIFY(got > 0);
        QVERIFY(std::string(buffer).find("\"first\"") != std::string::npos);
        ::close(fds[0]);
        writer.onLog(LogLevel::Info, "nobody reads this");
        QVERIFY(writer.detached());
        writer.onStep(StepReport{}); // no throw, no signal
        std::fclose(out);
    }
};

QTEST_GUILESS_MAIN(TestTrainEvents)
#include "tst_trainevents.moc"
