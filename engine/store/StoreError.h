// Errors of the experiment store. It is a FormatError (the database is a user file): what()
// reads "<database file>: <detail>", so a CLI or GUI can show it as is and the user knows
// which file is read-only, locked, damaged or too new.
#pragma once

#include "formats/FormatError.h"

#include <string>

namespace tb {

class StoreError : public FormatError {
public:
    using FormatError::FormatError;
};

} // namespace tb
