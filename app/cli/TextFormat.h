// Small text conversions every tunebench-cli command prints or parses the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tbcli {

// "q_proj,v_proj" -> {"q_proj", "v_proj"}; empty items are dropped.
std::vector<std::string> splitCommaList(const std::string& text);

// 1536 -> "1.5 KiB"; bytes in powers of 1024, one decimal above bytes.
std::string humanBytes(int64_t bytes);

} // namespace tbcli
