// Includes qcustomplot.h under the project-wide QT_NO_KEYWORDS: the installed header uses the
// `signals`, `slots`, `emit` and `foreach` keywords, so they are defined to their Q_ macros
// around the include only. Include this instead of <qcustomplot.h>.
#pragma once

#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach
