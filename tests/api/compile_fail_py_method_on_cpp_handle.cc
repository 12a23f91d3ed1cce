// Must NOT compile: a Python actor method on a C++ actor handle.
#include <ray/api.h>

class Counter {};

void Bad(ray::ActorHandle<Counter> handle) { handle.Task(ray::PyActorMethod<int>{"f"}); }
