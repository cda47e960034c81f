// Test helper for tst_storecrash and tst_storeopen, run as a real child process.
//
//   store_writer_child write DB     creates a run and records training steps forever (until
//                                   killed): 8 metrics + 6 memory samples per step, batches of
//                                   64 records or 50 ms, a checkpoint at step 10. Prints
//                                   "run <id>" once the run exists.
//   store_writer_child open DB [--as-nobody]
//                                   opens the store and exits 0, or prints the StoreError to
//                                   stdout and exits 3. --as-nobody drops root to uid/gid 65534
//                                   first, because root ignores file permissions and the
//                                   read-only test needs a user that does not.
#include "StoreTestSupport.h"

#include "store/MetricBuffer.h"
#include "store/RunStore.h"
#include "store/StoreError.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <unistd.h>

namespace {

int writeForever(const std::string& db)
{
    tb::RunStore store(db);
    tb::NewRun run = tbtest::sampleRun("killed-run");
    run.runDir = db + ".run";
    const int64_t id = store.createRun(run);
    std::printf("run %lld\n", static_cast<long long>(id));
    std::fflush(stdout);
    tb::MetricBuffer buffer(store.database(), id, {64, 50});
    for (int64_t step = 1;; ++step) {
        tbtest::recordStep(buffer, step);
        if (step == 10) {
            buffer.flush();
            store.recordCheckpoint(id, 10, run.runDir + "/checkpoints/step-00000010");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
}

int openOnly(const std::string& db, bool asNobody)
{
    if (asNobody && ::geteuid() == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
            std::printf("cannot drop privileges: %s\n", std::strerror(errno));
            return 4;
        }
    }
    try {
        tb::RunStore store(db);
    } catch (const tb::StoreError& e) {
        std::printf("%s\n", e.what());
        return 3;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 3 && std::strcmp(argv[1], "write") == 0)
        return writeForever(argv[2]);
    if (argc >= 3 && std::strcmp(argv[1], "open") == 0)
        return openOnly(argv[2], argc >= 4 && std::strcmp(argv[3], "--as-nobody") == 0);
    std::fprintf(stderr, "usage: store_writer_child write DB | open DB [--as-nobody]\n");
    return 2;
}
