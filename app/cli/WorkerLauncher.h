// `tunebench-cli train --nproc-per-node N` (or a config with "processes": N): starts N worker
// processes of this same program on this machine, the way torchrun would, and reports them as
// one run.
//
// Each worker gets the resolved run description (a temporary RUN.json: the same folder, the
// same settings, its share of the cores as its thread count), the recording options given
// (--json, --db, --name, --resume, --no-db) and the torchrun environment: RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT, plus
// TUNEBENCH_LAUNCHER=tunebench. The launcher hosts the rendezvous store itself, as torchrun's
// agent does (TORCHELASTIC_USE_AGENT_STORE=True; dist/RendezvousStore.h): MASTER_PORT is a port
// it has already bound, and the store outlives every worker. Rank 0 records the run in the
// database and writes the event stream, which the launcher passes through as its own stdout;
// the workers' stderr is the launcher's (ranks above 0 prefix their lines).
//
// Control: SIGINT/SIGTERM/SIGUSR1/SIGUSR2 are forwarded to every worker (the workers agree on
// the step to stop or pause at). A worker that dies makes the launcher write its reason into
// the rendezvous store ("killed by signal 9"), so the others fail naming it; any worker still
// alive a collective timeout (+15 s) later is asked to stop. Every worker is reaped before
// returning. When rank 0 itself was killed, the launcher marks the run failed in the database
// with that reason (resumable from its last checkpoint), since rank 0 could not.
#pragma once

#include "train/TrainConfig.h"

#include <string>
#include <vector>

namespace tbcli {

struct WorkerLaunch {
    tb::TrainConfig config;                 // resolved: absolute paths, the run folder chosen; devices: one worker each
    std::vector<std::string> recordingArgs; // --json, --db PATH, --name NAME, --resume DIR, --no-db
    std::string database;                   // where rank 0 records the run; "" with --no-db
};

// Runs the workers to the end; returns rank 0's exit status (1 when it was killed).
int launchWorkers(const WorkerLaunch& launch);

} // namespace tbcli
