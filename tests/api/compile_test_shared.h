// Included by two translation units of api_compile_test: a RAY_REMOTE in a
// header must register once (it is an inline variable).
#pragma once

#include <ray/api.h>

inline int SharedHeaderFunction(int x) { return x * 2; }
RAY_REMOTE(SharedHeaderFunction);
