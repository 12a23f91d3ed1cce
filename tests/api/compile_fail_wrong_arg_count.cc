// Must NOT compile: Remote() with the wrong number of arguments.
#include <ray/api.h>

int Plus(int x, int y) { return x + y; }
RAY_REMOTE(Plus);

void Bad() { ray::Task(Plus).Remote(1); }
