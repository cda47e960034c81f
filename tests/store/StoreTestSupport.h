// Shared pieces of the store tests: a typical NewRun, a step of training records as the
// trainer's adapter would write them, and raw SQLite access for fixtures and checks that go
// around the library (so the checks do not trust the code under test). No Qt: the child
// process helper uses it too.
#pragma once

#include "store/MetricBuffer.h"
#include "store/StoreTypes.h"

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace tbtest {

inline tb::NewRun sampleRun(const std::string& name, int64_t rank = 8, double lr = 2e-4)
{
    tb::NewRun run;
    run.name = name;
    run.method = "lora";
    run.config = {{"model_dir", "/models/tiny"},
                  {"learning_rate", lr},
                  {"batch_size", 4},
                  {"lora", {{"rank", rank}, {"alpha", 2 * rank}, {"target_modules", {"q_proj", "v_proj"}}}},
                  {"data", {{"max_seq_len", 512}}}};
    run.loraRank = rank;
    run.loraAlpha = 2.0 * static_cast<double>(rank);
    run.loraTargets = "q_proj,v_proj";
    run.learningRate = lr;
    run.batchSize = 4;
    run.seqLen = 512;
    run.seed = 42;
    run.totalSteps = 100;
    run.appVersion = "0.1.0";
    run.torchVersion = "2.3.0";
    run.device = "cpu";
    return run;
}

// The 8 metrics and 6 memory categories a training step records (bench_store uses the same).
inline void recordStep(tb::MetricBuffer& buffer, int64_t step)
{
    const double t = 0.5 * static_cast<double>(step);
    const int64_t tokens = 2048 * step;
    buffer.appendMetric(step, tokens, t, "loss", 3.0 / (1.0 + 0.01 * static_cast<double>(step)));
    buffer.appendMetric(step, tokens, t, "lr", 2e-4);
    buffer.appendMetric(step, tokens, t, "grad_norm", 0.8);
    buffer.appendMetric(step, tokens, t, "tokens_per_second", 4000.0 + static_cast<double>(step % 10));
    buffer.appendMetric(step, tokens, t, "epoch", 0.01 * static_cast<double>(step));
    buffer.appendMetric(step, tokens, t, "tokens", static_cast<double>(tokens));
    buffer.appendMetric(step, tokens, t, "skipped", 0.0);
    buffer.appendMetric(step, tokens, t, "step_seconds", 0.5);
    buffer.appendMemory(step, t, "base_weights", 1000000);
    buffer.appendMemory(step, t, "adapters", 20000);
    buffer.appendMemory(step, t, "gradients", 20000);
    buffer.appendMemory(step, t, "optimizer", 40000);
    buffer.appendMemory(step, t, "rss", 5000000 + step);
    buffer.appendMemory(step, t, "peak_rss", 6000000 + step);
}

// A raw connection for fixtures and independent checks.
class RawDb {
public:
    explicit RawDb(const std::string& path)
    {
        if (sqlite3_open(path.c_str(), &m_db) != SQLITE_OK)
            throw std::runtime_error("sqlite3_open " + path);
    }
    ~RawDb() { sqlite3_close_v2(m_db); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;

    // Returns "" on success, the error text otherwise.
    std::string exec(const std::string& sql)
    {
        char* error = nullptr;
        if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK)
            return {};
        std::string text = error ? error : "?";
        sqlite3_free(error);
        return text;
    }
    // First column of the first row as text ("" when none).
    std::string text(const std::string& sql)
    {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(m_db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
            return "error: " + std::string(sqlite3_errmsg(m_db));
        std::string out;
        if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
            out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        return out;
    }
    long long integer(const std::string& sql) { return std::stoll("0" + text(sql)); }

private:
    sqlite3* m_db = nullptr;
};

} // namespace tbtest
