// Descriptors for cross-language calls (Python and Java functions, actor
// classes and actor methods). Aggregates, brace-initialized in field order.
//
// Public header: must stay valid C++17.
#pragma once

#include <string>

namespace ray {

/// A Python function: ray::Task(ray::PyFunction<int>{"module", "function"}).
template <typename R>
struct PyFunction {
  std::string module_name;
  std::string function_name;
};

/// A Python actor class: ray::Actor(ray::PyActorClass{"module", "Counter"}).
struct PyActorClass {
  std::string module_name;
  std::string class_name;
  std::string function_name = "__init__";
};

/// A Python actor method: handle.Task(ray::PyActorMethod<int>{"increase"}).
template <typename R>
struct PyActorMethod {
  std::string function_name;
};

/// A static Java method.
template <typename R>
struct JavaFunction {
  std::string class_name;
  std::string function_name;
};

/// A Java actor class; a nested class is named "Outer$Inner".
struct JavaActorClass {
  std::string class_name;
  std::string module_name = "";
  std::string function_name = "<init>";
};

/// A Java actor method.
template <typename R>
struct JavaActorMethod {
  std::string function_name;
};

}  // namespace ray
