// The memory categories a training run records (engine/train/RunRecorder.h names them), as the
// plots stack them: bottom to top, with their labels and colours, so the live monitor and the
// memory inspector draw a run the same way. Constants only; any thread.
//
// The top category is derived, not recorded: the basis (process RSS on the CPU, the CUDA
// allocator's allocated bytes on a GPU) minus the tensor categories below it, i.e. activations,
// temporaries, the allocator's slack and everything else the process holds.
#pragma once

#include <QRgb>

struct StackedMemoryCategory {
    const char* key;   // the database's memory category ("activations": derived, see above)
    const char* label; // for legends and tables; pass through tr()
    QRgb color;
};

inline constexpr StackedMemoryCategory kStackedMemoryCategories[] = {
    {"base_weights", "base weights", qRgb(70, 110, 170)},
    {"adapters", "adapters", qRgb(220, 130, 40)},
    {"gradients", "gradients", qRgb(90, 160, 80)},
    {"optimizer", "optimizer state", qRgb(180, 70, 70)},
    {"activations", "activations and the rest", qRgb(150, 150, 150)},
};
inline constexpr int kStackedMemoryCategoryCount = 5;

// The peak line (peak RSS, or the CUDA allocator's peak) and the device's capacity line.
inline constexpr QRgb kPeakMemoryColor = qRgb(30, 30, 30);
inline constexpr QRgb kDeviceCapacityColor = qRgb(200, 40, 40);
