// The experiment store's schema: its version lives in PRAGMA user_version, its owner in
// PRAGMA application_id ('TBNC'). Every database, new or old, reaches the current version
// through the same chain of forward migrations (0 -> 1 -> 2 ...), so the path an old file
// takes is the path every new file takes too. docs/database.md documents the tables.
//
// A database written by a newer Tunebench (user_version above kCurrentVersion) is refused
// before anything is written to it; so is an SQLite file that belongs to another program.
#pragma once

#include <cstdint>

// The current time as the schema stores times: ISO-8601 UTC text with milliseconds. A macro so
// SQL literals can be put together at compile time ("SET ended_at = " TB_SQL_NOW).
#define TB_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

namespace tb {

class SqliteDatabase;

class StoreSchema {
public:
    // 1: the first schema. 2: runs.owner_start (the owner's process start marker, so a reused
    //    pid is not mistaken for a live owner) and an index on runs.status.
    // 3: memory_samples.worker (a data-parallel worker's rank; 0 for every earlier sample).
    static constexpr int64_t kCurrentVersion = 3;
    static constexpr int64_t kApplicationId = 0x54424E43; // "TBNC"

    // Checks the file, switches it to WAL and migrates it to kCurrentVersion in one
    // transaction. Throws StoreError naming the file when it cannot be used.
    static void prepare(SqliteDatabase& db);

    static int64_t version(SqliteDatabase& db);
};

} // namespace tb
