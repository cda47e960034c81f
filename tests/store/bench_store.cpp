// Cost of recording one training step in the experiment store: 8 metrics + 6 memory
// categories (as the trainer's adapter writes them), into a database file on disk.
//   BM_RecordStep/batched     MetricBuffer defaults (512 records or 1 s per transaction)
//   BM_RecordStep/per_step    a commit after every step, for contrast
//   BM_ListRuns               the run list over 20 runs of 2,000 steps each
#include "StoreTestSupport.h"

#include "store/MetricBuffer.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace {

void removeDb(const std::string& db)
{
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix, ec);
    std::filesystem::remove(std::filesystem::path(db).parent_path(), ec); // only once empty
}

std::string tempDb(const char* name)
{
    const auto dir = std::filesystem::temp_directory_path() / ("tunebench-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string db = (dir / name).string();
    removeDb(db);
    return db;
}

void BM_RecordStep(benchmark::State& state)
{
    const bool perStep = state.range(0) == 1;
    const std::string db = tempDb("record.db");
    tb::RunStore store(db);
    const int64_t id = store.createRun(tbtest::sampleRun("bench"));
    tb::MetricBuffer buffer(store.database(), id);
    int64_t step = 0;
    for (auto _ : state) {
        tbtest::recordStep(buffer, ++step);
        if (perStep)
            buffer.flush();
    }
    buffer.flush();
    state.SetItemsProcessed(state.iterations()); // items = steps
    state.counters["commits"] = static_cast<double>(buffer.commits());
    removeDb(db);
}
BENCHMARK(BM_RecordStep)->Arg(0)->Arg(1)->ArgNames({"per_step"})->Unit(benchmark::kMicrosecond);

void BM_ListRuns(benchmark::State& state)
{
    const std::string db = tempDb("list.db");
    tb::RunStore store(db);
    for (int r = 0; r < 20; ++r) {
        const int64_t id = store.createRun(tbtest::sampleRun("run " + std::to_string(r)));
        tb::MetricBuffer buffer(store.database(), id);
        for (int64_t step = 1; step <= 2000; ++step)
            tbtest::recordStep(buffer, step);
    }
    tb::RunQueries queries(store.database());
    for (auto _ : state)
        benchmark::DoNotOptimize(queries.listRuns());
    removeDb(db);
}
BENCHMARK(BM_ListRuns)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
