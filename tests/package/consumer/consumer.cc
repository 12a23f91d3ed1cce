// Written only against Ray's documented C++ API (tasks and objects).
#include <ray/api.h>

#include <iostream>
#include <unistd.h>

int Square(int x) { return x * x; }
int Pid() { return static_cast<int>(getpid()); }
RAY_REMOTE(Square, Pid);

int main() {
  ray::Init();
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(ray::Task(Square).Remote(ray::Put(i)));
  int sum = 0;
  for (auto &v : ray::Get(refs)) sum += *v;
  bool other_process = *ray::Task(Pid).Remote().Get() != getpid();
  ray::Shutdown();
  std::cout << "sum of squares " << sum << (other_process ? " (in worker processes)" : "") << std::endl;
  return sum == 140 && other_process ? 0 : 1;
}
