// What the new-run form shows about a base-model folder, read without loading a single weight:
// config.json (tb::ModelConfig), the safetensors headers (tb::CheckpointFiles) and the presence
// of the tokenizer files training needs. Also where the built-in demo model lives, and making it.
//
// Thread contract: every function here may run on any thread and touches no widget; the
// ModelChooser runs them through QtConcurrent. ensureBuiltInDemoModel() serialises its callers
// (the chooser's check and PlaygroundWorker's first load) with a process-wide mutex.
#pragma once

#include <QMetaType>
#include <QString>

struct ModelFolderFacts {
    QString dir;           // absolute, cleaned
    QString error;         // empty: the folder can be trained; else "<file>: <why>"
    QString architecture;  // "LlamaForCausalLM"
    qint64 parameters = 0; // from config.json, as `tunebench-cli inspect` counts them
    qint64 diskBytes = 0;  // the safetensors files
    QString dtype;         // stored dtype of most parameters ("BF16")
    int layers = 0;
    int hiddenSize = 0;

    bool valid() const { return error.isEmpty(); }
};
Q_DECLARE_METATYPE(ModelFolderFacts)

// <GenericDataLocation>/Tunebench/models/demo-tiny: beside the experiment database
// (~/.local/share/Tunebench/models/demo-tiny).
QString builtInDemoModelDir();

// Makes the tiny demo model (preset "tiny", seed 0) in builtInDemoModelDir() unless it is
// complete already; returns that folder. Made in a sibling folder and renamed into place, so a
// reader never sees half a model. Throws std::exception on I/O failure.
QString ensureBuiltInDemoModel();

// Reads the folder's facts; a problem lands in `error`, naming the file (never throws).
ModelFolderFacts inspectModelFolder(const QString& dir);
