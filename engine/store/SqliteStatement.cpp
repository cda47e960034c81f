#include "store/SqliteStatement.h"

#include "store/StoreError.h"

#include <sqlite3.h>

#include <utility>

namespace tb {

namespace {

// What the user can do about the common failures; empty when there is nothing to add.
const char* hintFor(int primaryCode)
{
    switch (primaryCode) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "the database is locked by another program (another Tunebench or an sqlite3 shell "
               "holding a write transaction); close it or try again";
    case SQLITE_READONLY:
        return "the database is read-only: Tunebench needs write access to the file and to its folder "
               "(for the -wal and -shm files beside it)";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return "the file is not an SQLite database or is damaged; move it aside and Tunebench starts a "
               "new one (or repair it with the sqlite3 shell's .recover)";
    case SQLITE_CANTOPEN:
        return "the file cannot be opened: check that its folder exists and is writable";
    case SQLITE_FULL:
        return "the disk is full";
    case SQLITE_IOERR:
        return "the operating system reported an I/O error";
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return "permission denied";
    default:
        return "";
    }
}

} // namespace

void throwSqliteError(sqlite3* db, int rc, const std::string& file, const std::string& what)
{
    std::string detail = what + " failed: ";
    detail += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const char* hint = hintFor(rc & 0xff);
    if (*hint) {
        detail += " (";
        detail += hint;
        detail += ")";
    }
    throw StoreError(file, detail);
}

SqliteStatement::SqliteStatement(sqlite3* db, std::string_view sql, const std::string& file)
    : m_db(db), m_file(file)
{
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &m_stmt, nullptr);
    if (rc != SQLITE_OK)
        throwSqliteError(db, rc, m_file, "preparing \"" + std::string(sql.substr(0, 60)) + "\"");
}

SqliteStatement::~SqliteStatement()
{
    sqlite3_finalize(m_stmt); // a no-op on nullptr
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : m_db(other.m_db), m_stmt(std::exchange(other.m_stmt, nullptr)), m_file(std::move(other.m_file))
{
}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept
{
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_db = other.m_db;
        m_stmt = std::exchange(other.m_stmt, nullptr);
        m_file = std::move(other.m_file);
    }
    return *this;
}

void SqliteStatement::check(int rc, const char* what) const
{
    if (rc != SQLITE_OK)
        throwSqliteError(m_db, rc, m_file, what);
}

SqliteStatement& SqliteStatement::bindInt(int index, int64_t value)
{
    check(sqlite3_bind_int64(m_stmt, index, value), "binding a parameter");
    return *this;
}

SqliteStatement& SqliteStatement::bindDouble(int index, double value)
{
    check(sqlite3_bind_double(m_stmt, index, value), "binding a parameter");
    return *this;
}

SqliteStatement& SqliteStatement::bindText(int index, std::string_view value)
{
    // SQLITE_TRANSIENT: SQLite copies the text, so temporaries may be bound.
    check(sqlite3_bind_text(m_stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
          "binding a parameter");
    return *this;
}

SqliteStatement& SqliteStatement::bindNull(int index)
{
    check(sqlite3_bind_null(m_stmt, index), "binding a parameter");
    return *this;
}

SqliteStatement& SqliteStatement::bindInt(int index, const std::optional<int64_t>& value)
{
    return value ? bindInt(index, *value) : bindNull(index);
}

SqliteStatement& SqliteStatement::bindDouble(int index, const std::optional<double>& value)
{
    return value ? bindDouble(index, *value) : bindNull(index);
}

bool SqliteStatement::step()
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    const std::string sql = sqlite3_sql(m_stmt) ? sqlite3_sql(m_stmt) : "";
    sqlite3_reset(m_stmt); // leave the statement reusable after a busy/constraint error
    throwSqliteError(m_db, rc, m_file, "\"" + sql.substr(0, 60) + "\"");
}

void SqliteStatement::run()
{
    while (step()) {
    }
}

void SqliteStatement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

bool SqliteStatement::isNull(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

int64_t SqliteStatement::columnInt(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

double SqliteStatement::columnDouble(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

std::string SqliteStatement::columnText(int column) const
{
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, column));
    if (!text)
        return {};
    return std::string(text, static_cast<size_t>(sqlite3_column_bytes(m_stmt, column)));
}

std::optional<int64_t> SqliteStatement::columnOptionalInt(int column) const
{
    if (isNull(column))
        return std::nullopt;
    return columnInt(column);
}

std::optional<double> SqliteStatement::columnOptionalDouble(int column) const
{
    if (isNull(column))
        return std::nullopt;
    return columnDouble(column);
}

} // namespace tb
