// Must NOT compile: an argument that cannot become the parameter type.
#include <ray/api.h>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

void Bad() { ray::Task(Plus1).Remote(std::string("x")); }
