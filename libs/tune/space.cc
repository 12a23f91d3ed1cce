// Space resolution (grid expansion, sampling, SampleFrom passes, presets) and
// Config's dotted-path access.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "ray/tune/search_space.h"

namespace ray {
namespace tune {
namespace {

std::string JoinPath(const std::vector<std::string> &path) {
  std::string out;
  for (const auto &key : path) out += (out.empty() ? "" : ".") + key;
  return out;
}

void SetPath(Json &config, const std::vector<std::string> &path, Json value) {
  Json *node = &config;
  for (size_t i = 0; i + 1 < path.size(); ++i) node = &(*node)[path[i]];
  (*node)[path.back()] = std::move(value);
}

// Constants in place and an object for every sub-space (empty ones included),
// so domains and functions see the whole fixed part of the config.
void FillConstants(const Space &space, Json &out) {
  for (const auto &[key, value] : space.entries()) {
    if (value.is_space()) {
      Json &sub = out[key] = Json::object();
      FillConstants(value.space(), sub);
    } else if (value.is_constant()) {
      out[key] = value.constant();
    }
  }
}

bool IsFunction(const Domain &domain) { return dynamic_cast<const FunctionDomain *>(&domain) != nullptr; }

// Runs the SampleFrom functions in passes: one that reads a value not resolved
// yet (another function's) fails with TuneError or a json error and is retried
// in the next pass, as Ray retries on its RecursiveDependencyError. A pass with
// no progress means a cycle or a key that is not in the space.
// With `allow_unresolved`, functions still unresolved when progress stops are
// left out instead (Ray's allow_fail, for constant grid search).
void ResolveFunctions(std::vector<const Space::Leaf *> pending, Json &config, Rng &rng,
                      bool allow_unresolved = false) {
  while (!pending.empty()) {
    std::vector<const Space::Leaf *> retry;
    std::string last_error;
    for (const Space::Leaf *leaf : pending) {
      try {
        Json value = leaf->value->domain()->Sample(config, rng);
        SetPath(config, leaf->path, std::move(value));
      } catch (const TuneError &e) {
        retry.push_back(leaf);
        last_error = e.what();
      } catch (const nlohmann::json::exception &e) {
        retry.push_back(leaf);
        last_error = e.what();
      } catch (const std::exception &e) {
        throw TuneError("SampleFrom at '" + JoinPath(leaf->path) + "' failed: " + e.what());
      }
    }
    if (retry.size() == pending.size()) {
      if (allow_unresolved) return;
      throw TuneError(
          "SampleFrom at '" + JoinPath(retry.front()->path) +
          "' cannot be resolved (it reads a key that is not in the space, or functions depend on each "
          "other in a cycle): " +
          last_error);
    }
    pending = std::move(retry);
  }
}

const Json *Find(const Json &root, const std::vector<std::string> &path) {
  const Json *node = &root;
  for (const std::string &key : path) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::string Excerpt(const Json &value) {
  std::string text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

std::vector<std::string> SplitPath(const std::string &path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool IsIndex(const std::string &segment) {
  return !segment.empty() && segment.size() < 10 &&
         std::all_of(segment.begin(), segment.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// Walks `path`; on failure returns null and, when `error` is given, says why.
const Json *Walk(const Json &root, const std::string &path, std::string *error) {
  const Json *node = &root;
  std::string walked;
  for (const std::string &segment : SplitPath(path)) {
    const std::string here = walked.empty() ? segment : walked + "." + segment;
    if (node->is_object()) {
      auto it = node->find(segment);
      if (it == node->end()) {
        if (error) *error = "config has no key '" + here + "'";
        return nullptr;
      }
      node = &*it;
    } else if (node->is_array() && IsIndex(segment)) {
      size_t index = std::stoul(segment);
      if (index >= node->size()) {
        if (error)
          *error = "config key '" + here + "': index out of range (the array has " +
                   std::to_string(node->size()) + " elements)";
        return nullptr;
      }
      node = &(*node)[index];
    } else {
      if (error) {
        *error = "config key '" + here + "': '" + (walked.empty() ? std::string("the config") : walked) +
                 "' is " + Config::TypeName(*node) + " " + Excerpt(*node) + ", not an object";
      }
      return nullptr;
    }
    walked = here;
  }
  return node;
}

}  // namespace

SpaceValue::SpaceValue(DomainPtr domain) : domain_(std::move(domain)) {
  if (!domain_) throw TuneError("a search space entry is a null domain");
}

SpaceValue::SpaceValue(Space space) : space_(std::make_shared<const Space>(std::move(space))) {}

Space::Space(std::initializer_list<Entry> entries) {
  for (const auto &entry : entries) Set(entry.first, entry.second);
}

Space Space::FromJson(const Json &constants) {
  if (!constants.is_object()) throw TuneError("a search space must be an object, got " + Excerpt(constants));
  Space space;
  for (const auto &[key, value] : constants.items()) {
    if (value.is_object()) {
      space.Set(key, FromJson(value));
    } else {
      space.Set(key, value);
    }
  }
  return space;
}

Space &Space::Set(const std::string &key, SpaceValue value) {
  for (auto &entry : entries_) {
    if (entry.first == key) {
      entry.second = std::move(value);
      return *this;
    }
  }
  entries_.emplace_back(key, std::move(value));
  return *this;
}

std::vector<Space::Leaf> Space::Leaves() const {
  std::vector<Leaf> leaves;
  for (const auto &[key, value] : entries_) {
    if (value.is_space()) {
      for (Leaf leaf : value.space().Leaves()) {
        leaf.path.insert(leaf.path.begin(), key);
        leaves.push_back(std::move(leaf));
      }
    } else {
      leaves.push_back(Leaf{{key}, &value});
    }
  }
  return leaves;
}

uint64_t Space::GridSize() const {
  uint64_t size = 1;
  for (const Leaf &leaf : Leaves()) {
    if (!leaf.value->is_domain() || !leaf.value->domain()->IsGrid()) continue;
    const uint64_t n = leaf.value->domain()->GridValues().size();
    if (n == 0)
      throw TuneError("GridSearch at '" + JoinPath(leaf.path) + "' is empty: an empty grid has no trials");
    if (size > UINT64_MAX / n) throw TuneError("the grid search has more points than fit in 64 bits");
    size *= n;
  }
  return size;
}

Json Space::Sample(Rng &rng, uint64_t grid_index) const { return Sample(rng, grid_index, Json::object()); }

Json Space::Sample(Rng &rng, uint64_t grid_index, const Json &fixed) const {
  const std::vector<Leaf> leaves = Leaves();
  Json config = Json::object();
  FillConstants(*this, config);

  std::vector<const Leaf *> grids, domains, functions;
  for (const Leaf &leaf : leaves) {
    if (!leaf.value->is_domain()) continue;
    const Domain &domain = *leaf.value->domain();
    if (!domain.IsGrid()) {
      if (const Json *value = Find(fixed, leaf.path)) {
        SetPath(config, leaf.path, *value);
        continue;
      }
    }
    (domain.IsGrid() ? grids : IsFunction(domain) ? functions : domains).push_back(&leaf);
  }
  // Ray sorts the grid variables by path; the first one varies fastest.
  std::sort(grids.begin(), grids.end(), [](const Leaf *a, const Leaf *b) { return a->path < b->path; });
  const uint64_t grid_size = GridSize();
  if (grid_index >= grid_size) {
    throw TuneError("grid index " + std::to_string(grid_index) + " is past the grid's " +
                    std::to_string(grid_size) + " points");
  }
  for (const Leaf *leaf : grids) {
    const std::vector<Json> values = leaf->value->domain()->GridValues();
    SetPath(config, leaf->path, values[grid_index % values.size()]);
    grid_index /= values.size();
  }
  for (const Leaf *leaf : domains) SetPath(config, leaf->path, leaf->value->domain()->Sample(config, rng));
  ResolveFunctions(std::move(functions), config, rng);
  return config;
}

Json Space::SampleFixed(Rng &rng) const {
  Json config = Json::object();
  FillConstants(*this, config);
  const std::vector<Leaf> leaves = Leaves();
  std::vector<const Leaf *> functions;
  for (const Leaf &leaf : leaves) {
    if (!leaf.value->is_domain() || leaf.value->domain()->IsGrid()) continue;
    if (IsFunction(*leaf.value->domain())) {
      functions.push_back(&leaf);
    } else {
      SetPath(config, leaf.path, leaf.value->domain()->Sample(config, rng));
    }
  }
  ResolveFunctions(std::move(functions), config, rng, /*allow_unresolved=*/true);
  return config;
}

Space Space::WithPreset(const Json &point) const {
  if (!point.is_object()) throw TuneError("a preset point must be an object, got " + Excerpt(point));
  Space out = *this;
  for (const auto &[key, value] : point.items()) {
    auto it = std::find_if(out.entries_.begin(), out.entries_.end(),
                           [&key = key](const Entry &entry) { return entry.first == key; });
    if (it == out.entries_.end()) {
      throw TuneError("preset key '" + key + "' is not in the search space (add it to the param space)");
    }
    SpaceValue &target = it->second;
    if (value.is_object() && target.is_space()) {
      try {
        target = target.space().WithPreset(value);
      } catch (const TuneError &e) {
        // Name the full path: the nested call only knows its own level.
        throw TuneError(std::string(e.what()).replace(0, 0, "under '" + key + "': "));
      }
    } else if (value.is_object() && target.is_constant() && target.constant().is_object()) {
      Json merged = target.constant();
      merged.merge_patch(value);
      target = merged;
    } else {
      target = value;
    }
  }
  return out;
}

Json Space::ToJson() const {
  Json out = Json::object();
  for (const auto &[key, value] : entries_) {
    if (value.is_space()) {
      out[key] = value.space().ToJson();
    } else if (value.is_domain()) {
      out[key] = value.domain()->ToString();
    } else {
      out[key] = value.constant();
    }
  }
  return out;
}

bool Config::Has(const std::string &path) const { return Walk(json_, path, nullptr) != nullptr; }

const Json &Config::At(const std::string &path) const {
  std::string error;
  const Json *value = Walk(json_, path, &error);
  if (!value) throw TuneError(error);
  return *value;
}

std::string Config::TypeName(const Json &value) {
  switch (value.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "null";
  }
}

void Config::ThrowWrongType(const std::string &path, const std::string &wanted, const Json &found) {
  throw TuneError("config key '" + path + "' is " + TypeName(found) + " " + Excerpt(found) + ", not " +
                  wanted);
}

int64_t Config::ToInt64(const std::string &path, const Json &value, int64_t min, uint64_t max) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > max) ThrowWrongType(path, "an integer in range", value);
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < min || (v > 0 && static_cast<uint64_t>(v) > max))
      ThrowWrongType(path, "an integer in range", value);
    return v;
  }
  if (value.is_number_float()) {
    const double v = value.get<double>();
    // 2^63 is exact in a double; anything at or past it does not fit.
    if (!std::isfinite(v) || v != std::trunc(v)) ThrowWrongType(path, "an integer", value);
    if (v < static_cast<double>(min) || v >= 9223372036854775808.0 ||
        (v > 0 && static_cast<uint64_t>(v) > max)) {
      ThrowWrongType(path, "an integer in range", value);
    }
    return static_cast<int64_t>(v);
  }
  ThrowWrongType(path, "an integer", value);
}

}  // namespace tune
}  // namespace ray
