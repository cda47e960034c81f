// Tests with a CUDA branch skip it where no GPU is present (the development machine, CI). On a
// GPU machine installer/gpu-check.sh sets TUNEBENCH_REQUIRE_GPU=1, and a missing or broken
// device (driver too old for the runtime, say) is then a failure, not a skip that passes.
#pragma once

#include <QtTest/QtTest>

#define TB_SKIP_WITHOUT_GPU(reason)                                   \
    do {                                                              \
        if (qEnvironmentVariableIsSet("TUNEBENCH_REQUIRE_GPU"))       \
            QFAIL(qPrintable(QString("TUNEBENCH_REQUIRE_GPU: ") + (reason))); \
        QSKIP(qPrintable(QString(reason)));                           \
    } while (0)
