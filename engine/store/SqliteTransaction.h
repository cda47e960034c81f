// A transaction as a scope: BEGIN on construction, ROLLBACK on destruction unless commit()
// was called (so an exception anywhere inside leaves nothing half-written).
// Write (BEGIN IMMEDIATE) takes the write lock at the start: two connections that both read
// and then try to write would otherwise deadlock, and SQLite answers SQLITE_BUSY without
// waiting. Read (BEGIN DEFERRED) takes no write lock; in WAL mode it gives a query made of
// several statements one consistent snapshot while the trainer keeps committing.
#pragma once

#include "store/SqliteDatabase.h"

namespace tb {

class SqliteTransaction {
public:
    enum class Mode { Write, Read };

    explicit SqliteTransaction(SqliteDatabase& db, Mode mode = Mode::Write) : m_db(db)
    {
        m_db.exec(mode == Mode::Write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    }
    ~SqliteTransaction()
    {
        if (!m_done) {
            try {
                m_db.exec("ROLLBACK");
            } catch (...) {
                // The connection already rolled back (e.g. after SQLITE_FULL): nothing to undo.
            }
        }
    }
    SqliteTransaction(const SqliteTransaction&) = delete;
    SqliteTransaction& operator=(const SqliteTransaction&) = delete;

    void commit()
    {
        m_db.exec("COMMIT");
        m_done = true;
    }

private:
    SqliteDatabase& m_db;
    bool m_done = false;
};

} // namespace tb
