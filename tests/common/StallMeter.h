// Measures how responsive the GUI thread stays: the longest gap, in milliseconds, between ticks
// of a 5 ms timer on the thread that creates it. GUI tests assert it stays under their bound
// (the 100 ms) while training, loading or exporting runs on worker threads.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <algorithm>

class StallMeter {
public:
    StallMeter()
    {
        QObject::connect(&m_ticker, &QTimer::timeout, [this] { m_longest = std::max(m_longest, m_sinceTick.restart()); });
        m_sinceTick.start();
        m_ticker.start(5);
    }
    qint64 longest() const { return m_longest; }

private:
    QTimer m_ticker;
    QElapsedTimer m_sinceTick;
    qint64 m_longest = 0;
};
