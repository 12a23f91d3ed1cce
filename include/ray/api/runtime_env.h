// ray::RuntimeEnv: a task, actor or job runtime environment (for example
// "env_vars"), stored as a JSON object of named fields.
//
// Any JSON-convertible type can be stored, including user types with ADL
// to_json/from_json. Errors (missing field, type mismatch, bad JSON) throw
// ray::internal::RayRuntimeEnvException. Not synchronized.
//
// Public header: must stay valid C++17.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include <ray/api/ray_exception.h>

namespace ray {

class RuntimeEnv {
 public:
  RuntimeEnv() : fields_(nlohmann::json::object()) {}

  /// Sets field `name` to `value` (any type nlohmann::json can convert).
  template <typename T>
  void Set(const std::string &name, const T &value) {
    try {
      fields_[name] = nlohmann::json(value);
    } catch (const std::exception &e) {
      throw internal::RayRuntimeEnvException("Failed to set the field '" + name +
                                             "' of the runtime env: " + e.what());
    }
  }

  /// Reads field `name` as a T. Throws if it is missing or does not convert.
  template <typename T>
  T Get(const std::string &name) const {
    auto it = fields_.find(name);
    if (it == fields_.end()) {
      throw internal::RayRuntimeEnvException("The field '" + name + "' is not found in the runtime env.");
    }
    try {
      return it->template get<T>();
    } catch (const std::exception &e) {
      throw internal::RayRuntimeEnvException("Failed to get the field '" + name +
                                             "' of the runtime env: " + e.what());
    }
  }

  /// Sets field `name` from JSON text. Throws on invalid JSON.
  void SetJsonStr(const std::string &name, const std::string &json_str) {
    try {
      fields_[name] = nlohmann::json::parse(json_str);
    } catch (const std::exception &e) {
      throw internal::RayRuntimeEnvException("Failed to set the field '" + name +
                                             "' from JSON text: " + e.what());
    }
  }

  /// Field `name` as compact JSON text. Throws if it is missing.
  std::string GetJsonStr(const std::string &name) const {
    auto it = fields_.find(name);
    if (it == fields_.end()) {
      throw internal::RayRuntimeEnvException("The field '" + name + "' is not found in the runtime env.");
    }
    return it->dump();
  }

  bool Contains(const std::string &name) const { return fields_.contains(name); }

  /// True if a field was removed.
  bool Remove(const std::string &name) { return fields_.erase(name) > 0; }

  bool Empty() const { return fields_.empty(); }

  /// All fields as one JSON object.
  std::string Serialize() const { return fields_.dump(); }

  /// A RuntimeEnvInfo message in its JSON form: {"serializedRuntimeEnv": "..."}.
  std::string SerializeToRuntimeEnvInfo() const {
    nlohmann::json info = nlohmann::json::object();
    info["serializedRuntimeEnv"] = Serialize();
    return info.dump();
  }

  /// Parses the output of Serialize(). Throws on bad JSON or a non-object.
  static RuntimeEnv Deserialize(const std::string &serialized_runtime_env) {
    RuntimeEnv env;
    nlohmann::json parsed;
    try {
      parsed = nlohmann::json::parse(serialized_runtime_env);
    } catch (const std::exception &e) {
      throw internal::RayRuntimeEnvException("Failed to deserialize the runtime env: " +
                                             std::string(e.what()));
    }
    if (!parsed.is_object()) {
      throw internal::RayRuntimeEnvException("Failed to deserialize the runtime env: not a JSON object.");
    }
    env.fields_ = std::move(parsed);
    return env;
  }

 private:
  nlohmann::json fields_;
};

}  // namespace ray
