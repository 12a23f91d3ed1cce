// User code built twice, as in Ray's cluster mode: into the driver, and into
// a shared library that the generic worker program loads from the code
// search path.
#include <ray/api.h>
#include <unistd.h>

int Triple(int x) { return 3 * x; }
int WorkerPid() { return static_cast<int>(getpid()); }
RAY_REMOTE(Triple, WorkerPid);
