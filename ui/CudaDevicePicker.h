// The new-run form's CUDA device checkboxes (data-parallel runs on several GPUs of this
// machine): one box per CUDA device of the device list, labelled as the form's device combo
// labels it; each checked device gets one worker process (TrainConfig::devices). A checked
// device the list lacks (a config from another machine) keeps a box of its own, flagged
// "(not on this machine)" once the list has arrived, so the config survives a round trip and
// the form can refuse it at this field.
//
// Thread contract: GUI thread only. It never enumerates devices itself: RunForm hands it the
// list it got off the GUI thread.
#pragma once

#include "core/DeviceMemory.h"

#include <QList>
#include <QString>
#include <QWidget>

#include <vector>

class QCheckBox;
class QVBoxLayout;

class CudaDevicePicker : public QWidget {
    Q_OBJECT
public:
    explicit CudaDevicePicker(QWidget* parent = nullptr);

    // What the form shows for a device: "CPU (system RAM), 16 GiB (9 GiB free)",
    // "cuda:0: NVIDIA H200, 140 GiB (139 GiB free)".
    static QString deviceLabel(const tb::DeviceMemoryInfo& device);
    // N of "cuda:N", 0 for "cuda" (LibTorch's current device), -1 for anything else.
    static int cudaIndex(const QString& device);

    // This machine's device list (entries that are not "cuda:N" are ignored); the checked
    // devices stay checked.
    void setDevices(const std::vector<tb::DeviceMemoryInfo>& devices);
    bool hasDeviceList() const { return m_listed; }
    // CUDA devices in the device list.
    int deviceCount() const { return static_cast<int>(m_devices.size()); }

    // Checks exactly `indices` (negative ones are ignored); emits nothing.
    void setChecked(const std::vector<int>& indices);
    std::vector<int> checked() const; // ascending
    // Checked devices the device list lacks; empty until the list has arrived.
    std::vector<int> missing() const;
    // The free memory the list gave for cuda:`index`; -1: unknown or not listed.
    qint64 freeBytes(int index) const;
    // Of `indices` (not empty), the one with the least free memory as listed (the first when
    // none is known): where a per-worker memory estimate is tightest.
    int tightest(const std::vector<int>& indices) const;
    // What is wrong with training on `indices` here ("cuda:3 not on this machine (found:
    // cuda:0, cuda:1)"); "" when every one is listed, or before the list has arrived.
    QString missingProblem(const std::vector<int>& indices) const;

    // The box of cuda:`index`; nullptr when there is none.
    QCheckBox* box(int index) const;
    QList<QCheckBox*> boxes() const { return m_boxes; }

Q_SIGNALS:
    // The user checked or unchecked a box (not emitted for setChecked() or setDevices()).
    void toggledByUser();

private:
    void rebuild(const std::vector<int>& checked);

    bool m_listed = false;
    std::vector<tb::DeviceMemoryInfo> m_devices; // the list's CUDA entries, by index
    QList<QCheckBox*> m_boxes;                    // ascending device index
    QVBoxLayout* m_column;
};
