#include "CudaDevicePicker.h"

#include <QCheckBox>
#include <QLocale>
#include <QStringList>
#include <QVBoxLayout>

#include <algorithm>
#include <set>

namespace {

const char* const kIndexProperty = "cudaIndex";

int indexOf(const QCheckBox* box)
{
    return box->property(kIndexProperty).toInt();
}

} // namespace

CudaDevicePicker::CudaDevicePicker(QWidget* parent) : QWidget(parent), m_column(new QVBoxLayout(this))
{
    m_column->setContentsMargins(0, 0, 0, 0);
    m_column->setSpacing(2);
    setToolTip(tr("Data-parallel training on this machine's GPUs: one worker process per checked device, each "
                  "training on its own share of every batch (global batch = batch size x gradient accumulation x "
                  "devices). One device checked: a single-process run on it."));
}

QString CudaDevicePicker::deviceLabel(const tb::DeviceMemoryInfo& d)
{
    const QLocale locale;
    QString text = d.device == "cpu" ? QString::fromStdString(d.name)
                                     : QStringLiteral("%1: %2").arg(QString::fromStdString(d.device), QString::fromStdString(d.name));
    if (d.totalBytes >= 0)
        text += QStringLiteral(", %1").arg(locale.formattedDataSize(d.totalBytes));
    if (d.freeBytes >= 0)
        text += tr(" (%1 free)").arg(locale.formattedDataSize(d.freeBytes));
    return text;
}

int CudaDevicePicker::cudaIndex(const QString& device)
{
    if (device == QLatin1String("cuda"))
        return 0;
    if (!device.startsWith(QLatin1String("cuda:")))
        return -1;
    bool ok = false;
    const int i = device.mid(5).toInt(&ok);
    return ok && i >= 0 ? i : -1;
}

void CudaDevicePicker::setDevices(const std::vector<tb::DeviceMemoryInfo>& devices)
{
    m_listed = true;
    m_devices.clear();
    for (const tb::DeviceMemoryInfo& d : devices)
        if (d.device != "cuda" && cudaIndex(QString::fromStdString(d.device)) >= 0)
            m_devices.push_back(d);
    std::sort(m_devices.begin(), m_devices.end(), [](const tb::DeviceMemoryInfo& a, const tb::DeviceMemoryInfo& b) {
        return cudaIndex(QString::fromStdString(a.device)) < cudaIndex(QString::fromStdString(b.device));
    });
    rebuild(checked());
}

void CudaDevicePicker::setChecked(const std::vector<int>& indices)
{
    rebuild(indices);
}

std::vector<int> CudaDevicePicker::checked() const
{
    std::vector<int> result;
    for (const QCheckBox* box : m_boxes)
        if (box->isChecked())
            result.push_back(indexOf(box));
    return result;
}

std::vector<int> CudaDevicePicker::missing() const
{
    std::vector<int> result;
    if (!m_listed)
        return result;
    for (int i : checked())
        if (std::none_of(m_devices.begin(), m_devices.end(),
                         [i](const tb::DeviceMemoryInfo& d) { return cudaIndex(QString::fromStdString(d.device)) == i; }))
            result.push_back(i);
    return result;
}

qint64 CudaDevicePicker::freeBytes(int index) const
{
    for (const tb::DeviceMemoryInfo& d : m_devices)
        if (cudaIndex(QString::fromStdString(d.device)) == index)
            return d.freeBytes;
    return -1;
}

int CudaDevicePicker::tightest(const std::vector<int>& indices) const
{
    int result = indices.empty() ? 0 : indices.front();
    qint64 least = -1;
    for (int i : indices) {
        const qint64 free = freeBytes(i);
        if (free >= 0 && (least < 0 || free < least)) {
            least = free;
            result = i;
        }
    }
    return result;
}

QString CudaDevicePicker::missingProblem(const std::vector<int>& indices) const
{
    if (!m_listed)
        return QString();
    QStringList listed, lacking;
    for (const tb::DeviceMemoryInfo& d : m_devices)
        listed << QString::fromStdString(d.device);
    for (int i : indices) {
        const QString name = QStringLiteral("cuda:%1").arg(i);
        if (i >= 0 && !listed.contains(name) && !lacking.contains(name))
            lacking << name;
    }
    if (lacking.isEmpty())
        return QString();
    return tr("%1 not on this machine (found: %2)").arg(lacking.join(", "), listed.isEmpty() ? tr("no CUDA device") : listed.join(", "));
}

QCheckBox* CudaDevicePicker::box(int index) const
{
    for (QCheckBox* b : m_boxes)
        if (indexOf(b) == index)
            return b;
    return nullptr;
}

void CudaDevicePicker::rebuild(const std::vector<int>& checkedIndices)
{
    // Boxes for the listed devices plus every checked one, so nothing checked is dropped
    // silently; an unchecked device that is not listed has nothing to show.
    std::set<int> checkedSet;
    for (int i : checkedIndices)
        if (i >= 0)
            checkedSet.insert(i);
    std::set<int> shown = checkedSet;
    for (const tb::DeviceMemoryInfo& d : m_devices)
        shown.insert(cudaIndex(QString::fromStdString(d.device)));

    qDeleteAll(m_boxes);
    m_boxes.clear();
    for (int i : shown) {
        const QString name = QStringLiteral("cuda:%1").arg(i);
        auto listed = std::find_if(m_devices.begin(), m_devices.end(),
                                   [i](const tb::DeviceMemoryInfo& d) { return cudaIndex(QString::fromStdString(d.device)) == i; });
        QString text = listed != m_devices.end() ? deviceLabel(*listed) : name;
        if (listed == m_devices.end() && m_listed)
            text = tr("%1 (not on this machine)").arg(name);
        auto* box = new QCheckBox(text, this);
        box->setProperty(kIndexProperty, i);
        box->setToolTip(text); // a narrow form may elide it
        box->setChecked(checkedSet.count(i) > 0);
        connect(box, &QCheckBox::toggled, this, &CudaDevicePicker::toggledByUser);
        m_column->addWidget(box);
        m_boxes << box;
    }
}
