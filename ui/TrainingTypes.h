// The engine's training value types as Qt meta-types, so queued signals can carry them between
// the training thread and the GUI thread. Include this (not the engine headers alone) in every
// ui header whose signals or slots use them: the declaration must precede moc's use.
// TrainingWorker::registerMetaTypes() registers them at run time.
#pragma once

#include "train/TrainConfig.h"
#include "train/Trainer.h"
#include "train/TrainerCallbacks.h"

#include <QMetaType>

Q_DECLARE_METATYPE(tb::TrainConfig)
Q_DECLARE_METATYPE(tb::StepReport)
Q_DECLARE_METATYPE(tb::EvalReport)
Q_DECLARE_METATYPE(tb::MemorySample)
Q_DECLARE_METATYPE(tb::LogLevel)
Q_DECLARE_METATYPE(tb::TrainStatus)
