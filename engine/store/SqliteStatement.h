// One prepared SQLite statement (RAII over sqlite3_stmt). Every value reaches SQL through a
// bound parameter, never through string formatting; parameters are 1-based, columns 0-based,
// as in the C API. Errors throw StoreError naming the database file.
//
// Thread affinity: a statement belongs to its connection's thread (see SqliteDatabase).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tb {

class SqliteStatement {
public:
    // `file` is the database path used in error messages.
    SqliteStatement(sqlite3* db, std::string_view sql, const std::string& file);
    ~SqliteStatement();
    SqliteStatement(SqliteStatement&& other) noexcept;
    SqliteStatement& operator=(SqliteStatement&& other) noexcept;
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;

    SqliteStatement& bindInt(int index, int64_t value);
    SqliteStatement& bindDouble(int index, double value);
    SqliteStatement& bindText(int index, std::string_view value);
    SqliteStatement& bindNull(int index);
    // nullopt binds NULL.
    SqliteStatement& bindInt(int index, const std::optional<int64_t>& value);
    SqliteStatement& bindDouble(int index, const std::optional<double>& value);

    // true: a row is ready to read; false: the statement is done.
    bool step();
    // Steps a statement that returns no rows (INSERT/UPDATE/DELETE/DDL).
    void run();
    // Ready to run again with new parameters (bindings are cleared).
    void reset();

    bool isNull(int column) const;
    int64_t columnInt(int column) const;
    double columnDouble(int column) const;
    std::string columnText(int column) const; // "" for NULL
    std::optional<int64_t> columnOptionalInt(int column) const;
    std::optional<double> columnOptionalDouble(int column) const;

private:
    void check(int rc, const char* what) const;

    sqlite3* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
    std::string m_file;
};

// The StoreError for an SQLite result code: the message says what failed, SQLite's own text,
// and what the user can do about it (locked, read-only, not a database, disk full...).
[[noreturn]] void throwSqliteError(sqlite3* db, int rc, const std::string& file, const std::string& what);

} // namespace tb
