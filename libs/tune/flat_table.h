// Flat views of nested results, shared by the trial logger (progress.csv) and
// ResultGrid (its CSV export): nested objects flattened into "a/b" keys, as
// Ray's flatten_dict does, and RFC 4180 CSV text.
//
// Threading: free functions on values; no shared state.
#pragma once

#include <string>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

/// {"a": {"b": 1}, "c": 2} -> {"a/b": 1, "c": 2}. Arrays and scalars are
/// leaves; an empty nested object is dropped. Non-objects give an empty object.
Json Flatten(const Json &value, const std::string &delimiter = "/");

/// One CSV field: strings as they are, numbers and booleans as JSON writes
/// them, null as nothing, arrays and objects as JSON text; quoted (with
/// doubled quotes) when it holds a comma, quote, CR or LF.
std::string CsvField(const Json &value);

/// A header line or a row: fields joined by commas, ending in "\n".
std::string CsvLine(const std::vector<std::string> &fields);

/// A header line: each column name quoted as a field.
std::string CsvHeader(const std::vector<std::string> &columns);

/// The row of `flat` (a flattened object) for `columns`: missing keys empty.
std::string CsvRow(const Json &flat, const std::vector<std::string> &columns);

}  // namespace internal
}  // namespace tune
}  // namespace ray
