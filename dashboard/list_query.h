// The state API's list queries (Ray's `/api/v0/<resource>?limit=&filter_keys=
// &filter_predicates=&filter_values=&detail=`): parsing the query string's
// parameters into a ListQuery, and applying it to a resource's rows. Filters
// are applied before the limit, so a filtered query finds every match however
// many rows there are (Ray truncates first: ray-project/ray#33547).
//
// Threading: plain values and functions; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lumen::dashboard {

/// Rows keep their fields in the order they were made (Ray's schema order),
/// which the CLI's table columns follow.
using Json = nlohmann::ordered_json;

/// Ray's limits: 100 rows unless asked, at most 10,000.
inline constexpr int kDefaultListLimit = 100;
inline constexpr int kMaxListLimit = 10000;

struct ListFilter {
  std::string key;
  bool equal = true;  // "=" or "!="
  std::string value;
};

struct ListQuery {
  int limit = kDefaultListLimit;
  int64_t offset = 0;  // matching rows skipped before the limit (a Lumen addition: paging)
  bool detail = false;
  std::vector<ListFilter> filters;  // ANDed
};

/// The parameters of one request: each name with its values in order
/// (filter_keys and its partners repeat).
using QueryParams = std::multimap<std::string, std::string>;

/// The parameters of a URL's query string ("a=1&b=%3D&a=2"), percent- and
/// '+'-decoded, every pair kept: Ray's filters repeat a parameter, often with
/// the same value ("filter_predicates==" twice), and cpp-httplib's own parser
/// drops a pair it has seen, so two filters with one predicate would lose one.
QueryParams ParseQueryString(std::string_view query);

/// Parses `params`; `filterable` names the keys a filter may use. An unknown
/// key, a predicate other than "=" or "!=", filter lists of different
/// lengths, a limit that is not a number in [1, kMaxListLimit] or an offset
/// that is not a whole number is an InvalidArgument whose message says which.
StatusOr<ListQuery> ParseListQuery(const QueryParams &params, const std::vector<std::string> &filterable);

/// Ray's list reply (`data.result`): total, num_filtered, num_after_truncation,
/// result, partial_failure_warning, warnings.
struct ListResult {
  int64_t total = 0;         // rows the source had
  int64_t num_filtered = 0;  // rows that passed the filters
  Json rows = Json::array();
  Json warnings = nullptr;             // a list of texts, or null
  std::optional<int64_t> num_dropped;  // rows the source no longer has (tasks), a Lumen addition

  Json ToJson() const;
};

/// Filters `rows` (each a JSON object) by `query`, then skips `query.offset`
/// and keeps the next `query.limit`. A filter compares the row's field as text, ignoring case
/// (Ray's since 2.7); a row without the field matches only "!=". Without
/// `query.detail`, each kept row is cut to the fields in `summary_fields`
/// (all of them when empty).
ListResult ApplyListQuery(const ListQuery &query, std::vector<Json> rows,
                          const std::vector<std::string> &summary_fields);

/// `row` cut to `summary_fields` unless `detail` (or no fields are named).
Json SummaryRow(Json row, bool detail, const std::vector<std::string> &summary_fields);

}  // namespace lumen::dashboard
