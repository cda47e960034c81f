// One SQLite connection (RAII over sqlite3*), set up the way the experiment store needs it:
// foreign keys on (ON DELETE CASCADE works), a busy timeout (a writer briefly holding the
// lock makes others wait instead of failing), synchronous=NORMAL (in WAL mode a commit is
// durable against a process crash without an fsync per transaction; only a power loss may
// drop the last commits, never corrupt the file).
//
// Opening does not write to the file: journal_mode=WAL is switched on by StoreSchema only
// after it has checked the schema version, so a database from a newer Tunebench is never
// modified. A missing file is created, with its folder. A file that is read-only, locked, or
// not a database gets a StoreError naming it.
//
// Thread affinity: a connection and its statements are used by one thread at a time. The
// training thread and the GUI thread each open their own connection to the same file; WAL
// lets the readers read while the writer writes.
#pragma once

#include "store/SqliteStatement.h"

#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;

namespace tb {

class SqliteDatabase {
public:
    explicit SqliteDatabase(const std::string& path, int busyTimeoutMs = 5000);
    ~SqliteDatabase();
    SqliteDatabase(SqliteDatabase&& other) noexcept;
    SqliteDatabase& operator=(SqliteDatabase&& other) noexcept;
    SqliteDatabase(const SqliteDatabase&) = delete;
    SqliteDatabase& operator=(const SqliteDatabase&) = delete;

    // Runs SQL without parameters (DDL, PRAGMA, BEGIN/COMMIT); may hold several statements.
    void exec(std::string_view sql);
    SqliteStatement prepare(std::string_view sql);
    // The first column of the first row of a parameterless query (e.g. PRAGMA user_version).
    int64_t queryInt(std::string_view sql);
    std::string queryText(std::string_view sql);

    int64_t lastInsertRowId() const;
    int64_t changes() const; // rows changed by the last INSERT/UPDATE/DELETE

    const std::string& path() const { return m_path; }
    sqlite3* handle() const { return m_db; }

private:
    sqlite3* m_db = nullptr;
    std::string m_path;
};

} // namespace tb
