// The download engine alone, for bench_hubdownload.sh: HubDownload of one repository with the
// HF_* variables of the environment, without tunebench-cli's LibTorch (whose loading alone
// costs the CLI about half a second and 160 MB of resident memory). Prints the snapshot.
//   bench_hubdownload ORG/NAME [CONNECTIONS]
#include "hub/HubDownload.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_hubdownload ORG/NAME [CONNECTIONS]\n");
        return 2;
    }
    try {
        tb::HubDownloadOptions options;
        if (argc > 2)
            options.connections = std::atoi(argv[2]);
        const tb::HubDownloadResult r =
            tb::HubDownload(tb::HubEnvironment::fromProcess(), options).run({tb::HubRepoId::parse(argv[1]), "main", {}});
        std::printf("%s\n", r.snapshotPath.c_str());
        std::fprintf(stderr, "%llu bytes in %.3f s\n", static_cast<unsigned long long>(r.bytesReceived), r.seconds);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_hubdownload: %s\n", e.what());
        return 1;
    }
}
