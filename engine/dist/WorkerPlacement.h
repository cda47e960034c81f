// Where this process stands in a data-parallel run: its rank among the workers, how many there
// are, its rank on this machine (which CUDA device it takes), and the rendezvous address (the
// TCP store that rank 0 hosts, as torch.distributed's env:// rendezvous does).
//
// Read from the environment the launchers people use set:
//   torchrun (and any env:// launcher, and `tunebench-cli train --nproc-per-node`):
//     RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and whether the
//     launcher hosts the store: TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT
//   Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE (or
//     SLURM_TASKS_PER_NODE), the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST as the
//     master unless MASTER_ADDR is set, and MASTER_PORT or 20000 + SLURM_JOB_ID % 20000 (the
//     same in every task of the job).
// RANK/WORLD_SIZE win over Slurm's variables (torchrun inside an allocation). Errors name the
// variable and its value. No Torch here: the CLI reads it before anything is loaded.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace tb {

struct WorkerPlacement {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1;
    std::string masterAddress;
    int masterPort = 0;
    std::string launcher; // "torchrun", "slurm", "tunebench" or "environment" (another env:// launcher)
    // The launcher hosts the rendezvous store at the master's address and rank 0 is a client
    // like the others (TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent, tunebench-cli's
    // launcher); otherwise rank 0 hosts it.
    bool storeHostedByLauncher = false;
    // Which start of the workers this is (TORCHELASTIC_RESTART_COUNT: torchrun restarts failed
    // workers against the same store); keys are kept per attempt.
    int attempt = 0;
};

// The value of an environment variable, nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvironmentLookup processEnvironment();

// nullopt when no launcher placed this process (neither RANK nor a Slurm step of several tasks).
// Throws std::invalid_argument naming the variable when the placement is incomplete or
// inconsistent.
std::optional<WorkerPlacement> placementFromEnvironment(const EnvironmentLookup& lookup);

// A TCP port free on 127.0.0.1 now (the kernel's choice, released again): for tests that have
// rank 0 host the store. A launcher hosts the store itself instead (RendezvousHost), since
// another process may take this port before rank 0 binds it. Throws std::runtime_error when
// there is none.
int freeLoopbackPort();

// The first host of a Slurm node list: "gpu[03-05,07],cpu01" -> "gpu03", "a,b" -> "a",
// "n[1-2]-ib" -> "n1-ib". Throws std::invalid_argument on a malformed list.
std::string firstSlurmHost(const std::string& nodeList);

} // namespace tb
