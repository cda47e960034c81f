# Finds LibTorch (Debian's 1.13 CPU build, or a CUDA 2.x build chosen with
# -DCMAKE_PREFIX_PATH / -DTorch_DIR) and defines tunebench_torch: an interface target with
# LibTorch's flags and a precompiled header, so each engine file does not pay the ~15 s that
# <torch/torch.h> costs on this machine.
find_package(Torch REQUIRED)
# LibTorch's own CMake config appends TORCH_CXX_FLAGS (the ABI macro) to CMAKE_CXX_FLAGS.
add_library(tunebench_torch INTERFACE)
target_link_libraries(tunebench_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(tunebench_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
set(TUNEBENCH_TORCH_HAS_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA OR USE_CUDA)
  set(TUNEBENCH_TORCH_HAS_CUDA ON)
endif()
if(TUNEBENCH_TORCH_HAS_CUDA)
  target_compile_definitions(tunebench_torch INTERFACE TUNEBENCH_TORCH_HAS_CUDA=1)
endif()
# LibTorch 2.14's headers refuse C++17 (#error in ATen.h); everything that includes them is
# then compiled as C++20. Older versions, Debian's 1.13 among them, keep the project's C++17.
if(Torch_VERSION VERSION_GREATER_EQUAL 2.14)
  target_compile_features(tunebench_torch INTERFACE cxx_std_20)
endif()
message(STATUS "Tunebench: LibTorch ${Torch_VERSION}, CUDA in LibTorch: ${TUNEBENCH_TORCH_HAS_CUDA}")
