// Must NOT compile: ray::Task on a member function pointer.
#include <ray/api.h>

class Counter {
 public:
  int Get() { return 0; }
};

void Bad() { ray::Task(&Counter::Get); }
