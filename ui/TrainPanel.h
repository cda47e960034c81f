// The window's "Train" tab: a compact new-run form over a LiveMonitor, and the TrainingWorker
// (on its own QThread) that runs one training run at a time.
//
// Thread contract: everything here runs on the GUI thread. A run starts by a queued call of
// TrainingWorker::start; its reports come back as queued signals; Pause / Resume / Stop call
// the worker's thread-safe methods directly. While a run is going the Start button is disabled:
// a second run is refused until the first has ended.
#pragma once

#include "TrainingTypes.h"

#include <QHash>
#include <QThread>
#include <QWidget>

class LiveMonitor;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class TrainingWorker;

class TrainPanel : public QWidget {
    Q_OBJECT
public:
    // databasePath: the experiment database runs are recorded in; empty: not recorded.
    explicit TrainPanel(const QString& databasePath, QWidget* parent = nullptr);
    ~TrainPanel() override;

    // The model runs fine-tune (the window's loaded model).
    void setModelDir(const QString& dir);

    // The form as a TrainConfig (not validated).
    tb::TrainConfig config() const;
    // Validates the form, shows each problem at its field; true when a run can start.
    bool validateForm();
    bool running() const { return m_running; }

    QLineEdit* datasetEdit() const { return m_dataset; }
    QLineEdit* outputEdit() const { return m_output; }
    QSpinBox* stepsSpin() const { return m_steps; }
    QPushButton* startButton() const { return m_start; }
    LiveMonitor* monitor() const { return m_monitor; }
    TrainingWorker* worker() const { return m_worker; }
    // The error shown at a field ("data", "output_dir", "lora.rank", ... as TrainConfig names
    // them; "" for problems of no field on the form).
    QString fieldError(const QString& field) const;

Q_SIGNALS:
    void startRequested(const tb::TrainConfig& config, bool resume);

private Q_SLOTS:
    void onStartClicked();
    void onFinished(int status, const QString& reason, const QString& adapterDir);

private:
    QWidget* withError(QWidget* field, const QString& key);
    void clearErrors();

    QThread m_thread;
    TrainingWorker* m_worker; // lives on m_thread
    bool m_running = false;
    QString m_modelDir;

    QLineEdit* m_dataset;
    QComboBox* m_method;
    QSpinBox* m_rank;
    QDoubleSpinBox* m_alpha;
    QDoubleSpinBox* m_learningRate;
    QSpinBox* m_steps;
    QSpinBox* m_batchSize;
    QSpinBox* m_seqLen;
    QLineEdit* m_output;
    QPushButton* m_start;
    QHash<QString, QLabel*> m_errors; // field name -> its error label
    LiveMonitor* m_monitor;
};
