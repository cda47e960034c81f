// The new-run form's CUDA device checkboxes (data-parallel runs on several GPUs), offscreen.
// This machine need not have a GPU: each test hands the form a device list (cpu + two CUDA
// devices) through RunForm::setDevices(), the way the off-thread query delivers it. Checked:
// hidden on CPU, shown for CUDA; k checked devices give TrainConfig::devices with k processes
// and device "cuda", one gives a single-device run; setConfig() round-trips them (also before
// the list arrives); a device not on this machine is flagged and refused at the "devices"
// field; the memory estimate uses the tightest checked device; the settings keep the devices.
#include "CudaDevicePicker.h"
#include "RunForm.h"
#include "RunFormSettings.h"
#include "TrainPanel.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

namespace {

const qint64 kGiB = qint64(1) << 30;

std::vector<tb::DeviceMemoryInfo> twoGpus()
{
    return {{"cpu", "CPU (system RAM)", 64 * kGiB, 32 * kGiB},
            {"cuda:0", "NVIDIA H200", 140 * kGiB, 120 * kGiB},
            {"cuda:1", "NVIDIA H200", 140 * kGiB, 80 * kGiB}};
}

// "0,1": comparable, and readable when a comparison fails.
QString ids(const std::vector<int>& indices)
{
    QStringList parts;
    for (int i : indices)
        parts << QString::number(i);
    return parts.join(',');
}

} // namespace

class TestRunFormDevices : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;

    tb::TrainConfig twoDeviceConfig() const
    {
        tb::TrainConfig c;
        c.modelDir = m_tmp.filePath("some-model").toStdString();
        c.dataPath = m_tmp.filePath("data.jsonl").toStdString();
        c.outputDir = m_tmp.filePath("out").toStdString();
        c.maxSteps = 10;
        c.device = "cuda";
        c.devices = {0, 1};
        c.processes = 2;
        return c;
    }

    static bool shown(RunForm& form, QWidget* field) { return field->isVisibleTo(&form); }

    static void choose(QComboBox* combo, const QString& device)
    {
        const int i = combo->findData(device);
        QVERIFY2(i >= 0, qPrintable(device));
        combo->setCurrentIndex(i);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QLocale::setDefault(QLocale::c());
        QVERIFY(m_tmp.isValid());
    }

    void checkboxesFollowTheDevice()
    {
        RunForm form(m_tmp.path());
        form.setDevices(twoGpus());
        CudaDevicePicker* picker = form.devicePicker();
        QCOMPARE(form.deviceCombo()->count(), 3);

        // CPU: the Processes field, no checkboxes.
        QCOMPARE(form.deviceCombo()->currentData().toString(), QString("cpu"));
        QVERIFY(!shown(form, picker));
        QVERIFY(shown(form, form.processesSpin()));
        QVERIFY(form.config().devices.empty());

        // CUDA: one box per device, labelled as the combo labels it; the chosen one checked.
        choose(form.deviceCombo(), "cuda:0");
        QVERIFY(shown(form, picker));
        QVERIFY(!shown(form, form.processesSpin()));
        QCOMPARE(picker->boxes().size(), 2);
        QCOMPARE(picker->box(0)->text(), form.deviceCombo()->itemText(form.deviceCombo()->findData("cuda:0")));
        QVERIFY(picker->box(0)->text().startsWith("cuda:0: NVIDIA H200, "));
        QVERIFY(picker->box(0)->isChecked());
        QVERIFY(!picker->box(1)->isChecked());
        tb::TrainConfig c = form.config();
        QCOMPARE(c.device, std::string("cuda:0"));
        QVERIFY(c.devices.empty());
        QCOMPARE(c.processes, 1);

        // Two checked: two workers, each on its own device.
        QSignalSpy changed(&form, &RunForm::changed);
        picker->box(1)->click();
        QVERIFY(changed.wait(1000));
        c = form.config();
        QCOMPARE(ids(c.devices), QString("0,1"));
        QCOMPARE(c.processes, 2);
        QCOMPARE(c.device, std::string("cuda"));
        for (const tb::ConfigProblem& p : c.problems()) // the form has no data yet: only these fields matter
            QVERIFY2(p.field != "devices" && p.field != "processes" && p.field != "device", p.message.c_str());
        QVERIFY(c.toJson().at("devices") == nlohmann::json({0, 1}));

        // Back to one: a single-device run on it, and the combo names it.
        picker->box(0)->click();
        c = form.config();
        QVERIFY(c.devices.empty());
        QCOMPARE(c.processes, 1);
        QCOMPARE(c.device, std::string("cuda:1"));
        QCOMPARE(form.deviceCombo()->currentData().toString(), QString("cuda:1"));
        QVERIFY(shown(form, picker));

        // None: refused at the checkboxes.
        picker->box(1)->click();
        QVERIFY(picker->checked().empty());
        QVERIFY(!form.showProblems(form.config()));
        QCOMPARE(form.fieldError("devices"), QString("check at least one device"));
        picker->box(0)->click(); // an edit hides the error it was about
        QVERIFY(form.fieldError("devices").isEmpty());

        // Choosing a device in the combo checks that one alone.
        picker->box(1)->click();
        QCOMPARE(form.config().devices.size(), size_t(2));
        choose(form.deviceCombo(), "cuda:1");
        QCOMPARE(ids(picker->checked()), QString("1"));

        // Back on CPU: Processes again, no devices.
        form.processesSpin()->setValue(1);
        choose(form.deviceCombo(), "cpu");
        QVERIFY(!shown(form, picker));
        QVERIFY(shown(form, form.processesSpin()));
        c = form.config();
        QCOMPARE(c.device, std::string("cpu"));
        QVERIFY(c.devices.empty());
    }

    void oneCudaDeviceKeepsTheProcessesField()
    {
        RunForm form(m_tmp.path());
        std::vector<tb::DeviceMemoryInfo> one = twoGpus();
        one.pop_back();
        form.setDevices(one);
        choose(form.deviceCombo(), "cuda:0");
        QVERIFY(!shown(form, form.devicePicker()));
        QVERIFY(shown(form, form.processesSpin()));
        QCOMPARE(form.config().device, std::string("cuda:0"));
        QVERIFY(form.config().devices.empty());
    }

    void anInjectedListIsNotReplacedByTheQuery()
    {
        RunForm form(m_tmp.path());
        form.setDevices(twoGpus());
        QTest::qWait(1000); // this machine's own answer (no GPU) would have come by now
        QCOMPARE(form.deviceCombo()->count(), 3);
        QCOMPARE(form.devicePicker()->deviceCount(), 2);
    }

    void setConfigRoundTripsTheDevices()
    {
        const tb::TrainConfig c = twoDeviceConfig();
        {
            RunForm form(m_tmp.path());
            form.setDevices(twoGpus());
            form.setConfig(c);
            QVERIFY(shown(form, form.devicePicker()));
            QCOMPARE(ids(form.devicePicker()->checked()), QString("0,1"));
            QCOMPARE(form.deviceCombo()->currentData().toString(), QString("cuda:0"));
            QCOMPARE(QString::fromStdString(form.config().toJson().dump()), QString::fromStdString(c.toJson().dump()));
        }
        {
            // The list arriving after setConfig (the panel restores the form first) keeps them.
            RunForm form(m_tmp.path());
            form.setConfig(c);
            QCOMPARE(ids(form.config().devices), QString("0,1"));
            form.setDevices(twoGpus());
            QCOMPARE(QString::fromStdString(form.config().toJson().dump()), QString::fromStdString(c.toJson().dump()));
            QVERIFY(form.devicePicker()->box(1)->text().startsWith("cuda:1: NVIDIA H200"));
            QVERIFY(form.devicePicker()->box(0)->isChecked() && form.devicePicker()->box(1)->isChecked());
        }
        {
            // A single-device CUDA config checks that device alone.
            tb::TrainConfig single = c;
            single.devices.clear();
            single.processes = 1;
            single.device = "cuda:1";
            RunForm form(m_tmp.path());
            form.setDevices(twoGpus());
            form.setConfig(single);
            QCOMPARE(ids(form.devicePicker()->checked()), QString("1"));
            QCOMPARE(QString::fromStdString(form.config().toJson().dump()), QString::fromStdString(single.toJson().dump()));
        }
        {
            // One listed device (--devices 1) is that device's single-process run.
            tb::TrainConfig one = c;
            one.devices = {1};
            one.processes = 1;
            RunForm form(m_tmp.path());
            form.setDevices(twoGpus());
            form.setConfig(one);
            QCOMPARE(form.deviceCombo()->currentData().toString(), QString("cuda:1"));
            const tb::TrainConfig shown = form.config();
            QCOMPARE(shown.device, std::string("cuda:1"));
            QVERIFY(shown.devices.empty());
            QCOMPARE(shown.processes, 1);
        }
    }

    void aDeviceNotOnThisMachineIsRefusedAtTheDevicesField()
    {
        RunForm form(m_tmp.path());
        form.setDevices(twoGpus());
        tb::TrainConfig c = twoDeviceConfig();
        c.devices = {0, 3};
        form.setConfig(c);
        CudaDevicePicker* picker = form.devicePicker();
        QVERIFY(shown(form, picker));
        QVERIFY(picker->box(3));
        QVERIFY(picker->box(3)->isChecked());
        QCOMPARE(picker->box(3)->text(), QString("cuda:3 (not on this machine)"));
        QCOMPARE(ids(form.config().devices), QString("0,3"));
        QVERIFY(!form.showProblems(form.config()));
        QCOMPARE(form.fieldError("devices"), QString("cuda:3 not on this machine (found: cuda:0, cuda:1)"));
        QVERIFY2(form.fieldError("device").isEmpty(), qPrintable(form.fieldError("device")));

        // TrainConfig's own rules about the devices reach the same field.
        tb::TrainConfig twice = c;
        twice.devices = {1, 1};
        QVERIFY(!form.showProblems(twice));
        QCOMPARE(form.fieldError("devices"), QString("lists a device twice"));

        // Unchecking it hides the error and leaves a single-device run on cuda:0.
        form.showProblems(form.config());
        picker->box(3)->click();
        QVERIFY(form.fieldError("devices").isEmpty());
        QCOMPARE(form.config().device, std::string("cuda:0"));
        QVERIFY(form.config().devices.empty());
        form.showProblems(form.config());
        QVERIFY(form.fieldError("devices").isEmpty());
        QVERIFY(form.fieldError("device").isEmpty());
    }

    void theEstimateUsesTheTightestDevice()
    {
        RunForm form(m_tmp.path());
        form.setDevices(twoGpus());
        form.setConfig(twoDeviceConfig());
        const tb::TrainConfig c = form.config();
        QCOMPARE(form.estimateDevice(c), std::string("cuda:1")); // 80 GiB free against cuda:0's 120
        tb::TrainConfig single = c;
        single.devices.clear();
        single.device = "cuda:0";
        QCOMPARE(form.estimateDevice(single), std::string("cuda:0"));
    }

    void settingsKeepTheDevices()
    {
        const QString file = m_tmp.filePath("devices.ini");
        {
            RunForm form(m_tmp.path());
            form.setDevices(twoGpus());
            form.setConfig(twoDeviceConfig());
            RunFormSettings settings(file);
            settings.saveForm(form.config());
            settings.sync();
        }
        const std::optional<tb::TrainConfig> saved = RunFormSettings(file).loadForm();
        QVERIFY(saved);
        QCOMPARE(ids(saved->devices), QString("0,1"));
        RunForm form(m_tmp.path());
        form.setDevices(twoGpus());
        form.setConfig(*saved);
        QCOMPARE(ids(form.devicePicker()->checked()), QString("0,1"));
        QCOMPARE(form.config().processes, 2);

        // Through the Train tab, which saves its form on destruction; this machine's own
        // device list (no such GPUs here) does not drop them.
        const QString panelFile = m_tmp.filePath("panel-devices.ini");
        {
            TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, panelFile);
            panel.setConfig(twoDeviceConfig());
        }
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, panelFile);
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->devicePicker()->hasDeviceList(), 30000);
        QCOMPARE(ids(panel.config().devices), QString("0,1"));
        QCOMPARE(panel.config().processes, 2);
        QCOMPARE(panel.config().device, std::string("cuda"));
    }
};

QTEST_MAIN(TestRunFormDevices)
#include "tst_runformdevices.moc"
