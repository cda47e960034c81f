#include "store/SqliteDatabase.h"

#include "store/StoreError.h"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;

namespace tb {

SqliteDatabase::SqliteDatabase(const std::string& path, int busyTimeoutMs) : m_path(path)
{
    if (path.empty())
        throw StoreError("(database)", "no database path given");
    const fs::path file(path);
    std::error_code ec;
    if (fs::is_directory(file, ec))
        throw StoreError(path, "is a folder, not a database file");
    if (file.has_parent_path() && !fs::exists(file.parent_path(), ec)) {
        fs::create_directories(file.parent_path(), ec);
        if (ec)
            throw StoreError(path, "cannot create the database's folder: " + ec.message());
    }

    const int rc = sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        // sqlite3_open_v2 hands back a connection even on failure; it must be closed.
        std::string detail = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw StoreError(path, "cannot open the database: " + detail +
                                   " (check that the file and its folder are readable and writable)");
    }
    sqlite3_extended_result_codes(m_db, 1);
    // SQLite silently falls back to read-only when the OS denies writing; Tunebench records
    // every run, so a read-only store is refused up front rather than failing at the first step.
    if (sqlite3_db_readonly(m_db, "main") == 1) {
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw StoreError(path, "the database file is read-only; Tunebench needs to write to it "
                               "(check its permissions, or point TUNEBENCH_DB at a writable copy)");
    }
    sqlite3_busy_timeout(m_db, busyTimeoutMs);
    try {
        exec("PRAGMA foreign_keys = ON");
        exec("PRAGMA synchronous = NORMAL");
        // Reading the header now turns "not a database", "locked" and "damaged" into an error
        // at open time, naming the file, instead of at some later query.
        queryInt("PRAGMA schema_version");
    } catch (...) {
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw;
    }
}

SqliteDatabase::~SqliteDatabase()
{
    // close_v2: statements still alive (a bug) would otherwise make close fail and leak.
    sqlite3_close_v2(m_db);
}

SqliteDatabase::SqliteDatabase(SqliteDatabase&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path))
{
}

SqliteDatabase& SqliteDatabase::operator=(SqliteDatabase&& other) noexcept
{
    if (this != &other) {
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
        m_path = std::move(other.m_path);
    }
    return *this;
}

void SqliteDatabase::exec(std::string_view sql)
{
    const std::string text(sql); // sqlite3_exec needs a NUL-terminated string
    char* message = nullptr;
    const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        sqlite3_free(message); // sqlite3_errmsg still holds the same text
        throwSqliteError(m_db, rc, m_path, "\"" + text.substr(0, 60) + "\"");
    }
}

SqliteStatement SqliteDatabase::prepare(std::string_view sql)
{
    return SqliteStatement(m_db, sql, m_path);
}

int64_t SqliteDatabase::queryInt(std::string_view sql)
{
    SqliteStatement statement = prepare(sql);
    return statement.step() ? statement.columnInt(0) : 0;
}

std::string SqliteDatabase::queryText(std::string_view sql)
{
    SqliteStatement statement = prepare(sql);
    return statement.step() ? statement.columnText(0) : std::string();
}

int64_t SqliteDatabase::lastInsertRowId() const
{
    return sqlite3_last_insert_rowid(m_db);
}

int64_t SqliteDatabase::changes() const
{
    return sqlite3_changes(m_db);
}

} // namespace tb
