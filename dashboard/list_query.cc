#include "dashboard/list_query.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace lumen::dashboard {
namespace {

std::vector<std::string> Values(const QueryParams &params, const std::string &name) {
  std::vector<std::string> out;
  auto [begin, end] = params.equal_range(name);
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A field as the text a filter compares with: strings as they are, booleans
// as true/false, numbers as JSON writes them.
std::string FieldText(const Json &value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

bool Matches(const Json &row, const ListFilter &filter) {
  auto it = row.find(filter.key);
  if (it == row.end() || it->is_null()) return !filter.equal;
  const bool same = Lower(FieldText(*it)) == Lower(filter.value);
  return same == filter.equal;
}

bool ParseBool(const std::string &text, bool *out) {
  const std::string t = Lower(text);
  if (t == "1" || t == "true") return *out = true, true;
  if (t == "0" || t == "false" || t.empty()) return *out = false, true;
  return false;
}

std::string Join(const std::vector<std::string> &names) {
  std::string out;
  for (const std::string &n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of one query component ("%3D" -> "=", "+" -> " "); a
// malformed escape stays as it is.
std::string Decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && HexDigit(text[i + 1]) >= 0 &&
               HexDigit(text[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(text[i + 1]) * 16 + HexDigit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

QueryParams ParseQueryString(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      params.emplace(Decode(pair.substr(0, eq)),
                     eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return params;
}

StatusOr<ListQuery> ParseListQuery(const QueryParams &params, const std::vector<std::string> &filterable) {
  ListQuery query;
  if (auto limits = Values(params, "limit"); !limits.empty()) {
    const std::string &text = limits.back();
    int limit = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > kMaxListLimit)
      return Status::InvalidArgument("limit must be a whole number from 1 to " +
                                     std::to_string(kMaxListLimit) + ", got '" + text + "'");
    query.limit = limit;
  }
  if (auto offsets = Values(params, "offset"); !offsets.empty()) {
    const std::string &text = offsets.back();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), query.offset);
    if (ec != std::errc() || end != text.data() + text.size() || query.offset < 0)
      return Status::InvalidArgument("offset must be a whole number, 0 or more, got '" + text + "'");
  }
  if (auto details = Values(params, "detail"); !details.empty() && !ParseBool(details.back(), &query.detail))
    return Status::InvalidArgument("detail must be true or false, got '" + details.back() + "'");
  const auto keys = Values(params, "filter_keys");
  const auto predicates = Values(params, "filter_predicates");
  const auto values = Values(params, "filter_values");
  if (keys.size() != predicates.size() || keys.size() != values.size())
    return Status::InvalidArgument(
        "filter_keys, filter_predicates and filter_values must come in threes (got " +
        std::to_string(keys.size()) + ", " + std::to_string(predicates.size()) + " and " +
        std::to_string(values.size()) + ")");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::find(filterable.begin(), filterable.end(), keys[i]) == filterable.end())
      return Status::InvalidArgument("cannot filter by '" + keys[i] + "'; the keys are: " + Join(filterable));
    if (predicates[i] != "=" && predicates[i] != "!=")
      return Status::InvalidArgument("a filter predicate is '=' or '!=', got '" + predicates[i] + "'");
    query.filters.push_back({keys[i], predicates[i] == "=", values[i]});
  }
  return query;
}

Json ListResult::ToJson() const {
  Json out = {{"total", total},
              {"num_filtered", num_filtered},
              {"num_after_truncation", static_cast<int64_t>(rows.size())},
              {"result", rows},
              {"partial_failure_warning", ""},
              {"warnings", warnings}};
  if (num_dropped) out["num_dropped"] = *num_dropped;
  return out;
}

Json SummaryRow(Json row, bool detail, const std::vector<std::string> &summary_fields) {
  if (detail || summary_fields.empty()) return row;
  Json cut = Json::object();
  for (const std::string &field : summary_fields) {
    if (auto it = row.find(field); it != row.end()) cut[field] = std::move(*it);
  }
  return cut;
}

ListResult ApplyListQuery(const ListQuery &query, std::vector<Json> rows,
                          const std::vector<std::string> &summary_fields) {
  ListResult out;
  out.total = static_cast<int64_t>(rows.size());
  for (Json &row : rows) {
    if (!std::all_of(query.filters.begin(), query.filters.end(),
                     [&](const ListFilter &f) { return Matches(row, f); }))
      continue;
    const int64_t index = out.num_filtered++;
    if (index < query.offset || static_cast<int64_t>(out.rows.size()) >= query.limit) continue;  // counted
    out.rows.push_back(SummaryRow(std::move(row), query.detail, summary_fields));
  }
  return out;
}

}  // namespace lumen::dashboard
