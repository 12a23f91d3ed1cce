// A program of the shape of Ray's C++ project template (the example the
// ray-cpp wheel generates): a remote function, an actor, and std::cout with
// no #include <iostream>, which <ray/api.h> provides as Ray's does (through
// its logging header). Built against the installed package only.
#include <ray/api.h>

int Triple(int x) { return 3 * x; }
RAY_REMOTE(Triple);

class Tally {
 public:
  explicit Tally(int start) : total_(start) {}
  static Tally *FactoryCreate(int start) { return new Tally(start); }
  int Add(int x) {
    total_ += x;
    return total_;
  }

 private:
  int total_;
};
RAY_REMOTE(Tally::FactoryCreate, &Tally::Add);

int main(int argc, char **argv) {
  ray::RayConfig config;
  ray::Init(config, argc, argv);
  auto stored = ray::Put(7);
  int got = *ray::Get(stored);
  std::cout << "put and get: " << got << std::endl;
  int tripled = *ray::Task(Triple).Remote(stored).Get();
  std::cout << "task: " << tripled << std::endl;
  auto tally = ray::Actor(Tally::FactoryCreate).Remote(1);
  tally.Task(&Tally::Add).Remote(2);
  int total = *tally.Task(&Tally::Add).Remote(3).Get();
  std::cout << "actor: " << total << std::endl;
  ray::Shutdown();
  return got == 7 && tripled == 21 && total == 6 ? 0 : 1;
}
