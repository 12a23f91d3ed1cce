#include "flat_table.h"

namespace ray {
namespace tune {
namespace internal {
namespace {

void FlattenInto(const Json &value, const std::string &prefix, const std::string &delimiter, Json *out) {
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + delimiter + it.key();
    if (it->is_object()) {
      FlattenInto(*it, key, delimiter, out);
    } else {
      (*out)[key] = *it;
    }
  }
}

std::string Quoted(const std::string &text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Json Flatten(const Json &value, const std::string &delimiter) {
  Json out = Json::object();
  if (value.is_object()) FlattenInto(value, "", delimiter, &out);
  return out;
}

std::string CsvField(const Json &value) {
  if (value.is_null()) return "";
  if (value.is_string()) return Quoted(value.get<std::string>());
  return Quoted(value.dump());
}

std::string CsvLine(const std::vector<std::string> &fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += fields[i];
  }
  return line + "\n";
}

std::string CsvHeader(const std::vector<std::string> &columns) {
  std::vector<std::string> fields;
  fields.reserve(columns.size());
  for (const auto &c : columns) fields.push_back(Quoted(c));
  return CsvLine(fields);
}

std::string CsvRow(const Json &flat, const std::vector<std::string> &columns) {
  std::vector<std::string> fields;
  fields.reserve(columns.size());
  for (const auto &c : columns) {
    auto it = flat.find(c);
    fields.push_back(it == flat.end() ? std::string() : CsvField(*it));
  }
  return CsvLine(fields);
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
