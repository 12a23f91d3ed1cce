// Second translation unit of api_compile_test: <ray/api.h> and RAYLOG must
// survive platform-style macros named like the log levels, and a RAY_REMOTE
// in a shared header must not register twice.
#define DEBUG 1
#define ERROR 2
#include <ray/api.h>

#include "compile_test_shared.h"

int CallSharedFromSecondUnit() {
  RAYLOG(DEBUG) << "debug with a DEBUG macro";
  RAYLOG(ERROR) << "error with an ERROR macro";
  static_assert(DEBUG == 1 && ERROR == 2, "the user's macros are restored");
  return *ray::Task(SharedHeaderFunction).Remote(21).Get();
}
