// torch.distributed's c10d headers, included one way for every LibTorch this project builds
// against (Debian's 1.13 CPU build, CUDA builds of 2.x). They declare the Gloo process group
// only with USE_C10D_GLOO (and NCCL's with USE_C10D_NCCL), which LibTorch's own build defines
// on its command line but its installed headers do not; our sources define them here, after
// the precompiled header, so the rest of the build keeps its flags.
//   1.13: ProcessGroupGloo derives from ProcessGroup, collectives return ProcessGroup::Work;
//   2.x:  it derives from Backend and they return c10d::Work.
// The code uses the concrete process group types and `auto` for the work handles, which both
// accept.
#pragma once

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#if defined(TUNEBENCH_TORCH_HAS_CUDA) && __has_include(<nccl.h>)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#define TUNEBENCH_HAVE_NCCL 1
#endif

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef TUNEBENCH_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
