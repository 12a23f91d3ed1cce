// matrix_filters: the classic "put a big object once, fan out many tasks over
// it" Ray program. A large matrix (a plain std::vector<double>) is stored with
// ray::Put, then N tasks each apply a different filter to it and return a
// small summary. The driver checks every summary against a serial computation
// of the same filter and prints the speed-up.
//
// The tasks take the matrix as a ray::Buffer<double> (a Lumen extension, as
// numpy arrays are in Ray Python): it points straight into the stored object
// in shared memory, so no task copies or decodes the 32 MiB. A task declared
// with `const std::vector<double> &` works too (each worker then decodes the
// object once and shares it between the tasks it runs).
//
//   matrix_filters [--small] [--n N] [--tasks T]
#include <ray/api.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

struct Summary {
  int filter_id = 0;
  std::string description;
  double sum = 0, mean = 0, min = 0, max = 0;
  MSGPACK_DEFINE(filter_id, description, sum, mean, min, max);
};

static std::vector<double> MakeMatrix(int n) {
  std::vector<double> m(static_cast<size_t>(n) * n);
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (auto &v : m) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    v = static_cast<double>(state >> 11) * (1.0 / 9007199254740992.0);  // [0,1)
  }
  return m;
}

static std::string Describe(int id) {
  char buf[128];
  switch (id % 4) {
    case 0:
      std::snprintf(buf, sizeof buf, "scale by %.2f", 0.5 * (id / 4 + 1));
      break;
    case 1:
      std::snprintf(buf, sizeof buf, "3x3 blur, centre weight %d", id / 4 + 1);
      break;
    case 2:
      std::snprintf(buf, sizeof buf, "threshold at %.2f", 0.2 + 0.15 * (id / 4));
      break;
    default:
      std::snprintf(buf, sizeof buf, "3x3 edge detect (laplacian) x%d", id / 4 + 1);
      break;
  }
  return buf;
}

// Applies filter `id` to the n x n matrix at d and summarises the filtered
// matrix (never stored).
static Summary Filter(const double *d, int n, int id) {
  const int R = n, C = n;
  const size_t count = static_cast<size_t>(n) * n;
  double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
  auto take = [&](double v) {
    sum += v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  };
  auto at = [&](int r, int c) {  // clamp-to-edge
    r = r < 0 ? 0 : (r >= R ? R - 1 : r);
    c = c < 0 ? 0 : (c >= C ? C - 1 : c);
    return d[static_cast<size_t>(r) * C + c];
  };
  const int kind = id % 4, level = id / 4;
  if (kind == 0) {
    const double k = 0.5 * (level + 1);
    for (size_t i = 0; i < count; ++i) take(d[i] * k);
  } else if (kind == 1) {
    const double w = level + 1, norm = 1.0 / (w + 8.0);
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int dr = -1; dr <= 1; ++dr)
          for (int dc = -1; dc <= 1; ++dc) s += (dr == 0 && dc == 0 ? w : 1.0) * at(r + dr, c + dc);
        take(s * norm);
      }
  } else if (kind == 2) {
    const double t = 0.2 + 0.15 * level;
    for (size_t i = 0; i < count; ++i) take(d[i] >= t ? 1.0 : 0.0);
  } else {
    const double k = level + 1;
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        double s = 4 * at(r, c) - at(r - 1, c) - at(r + 1, c) - at(r, c - 1) - at(r, c + 1);
        take(std::fabs(s) * k);
      }
  }
  Summary out;
  out.filter_id = id;
  out.description = Describe(id);
  out.sum = sum;
  out.mean = sum / static_cast<double>(count);
  out.min = mn;
  out.max = mx;
  return out;
}
// The task: the matrix is read in place, in shared memory.
static Summary ApplyFilter(ray::Buffer<double> m, int n, int id) { return Filter(m.data(), n, id); }
RAY_REMOTE(ApplyFilter);

static bool Close(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::max(std::fabs(a), std::fabs(b)));
}

static double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char **argv) {
  int n = 2048, tasks = 16;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      n = 256;
    } else if (!std::strcmp(argv[i], "--n") && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--tasks") && i + 1 < argc) {
      tasks = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--small] [--n N] [--tasks T]\n", argv[0]);
      return 2;
    }
  }

  ray::Init();
  std::vector<double> m = MakeMatrix(n);
  const double mib = m.size() * sizeof(double) / 1048576.0;
  std::printf("Built a %dx%d matrix of doubles (%.1f MiB).\n", n, n, mib);

  auto t0 = std::chrono::steady_clock::now();
  ray::ObjectRef<std::vector<double>> ref = ray::Put(m);
  std::printf("Stored it once in the object store with ray::Put (%.3f s).\n", Seconds(t0));

  std::printf("Submitting %d tasks; each reads the same stored matrix and applies a different filter.\n",
              tasks);
  std::vector<ray::ObjectRef<Summary>> refs;
  for (int i = 0; i < tasks; ++i) refs.push_back(ray::Task(ApplyFilter).Remote(ref, n, i));

  std::vector<Summary> results;
  for (int i = 0; i < tasks; ++i) {
    Summary s = *ray::Get(refs[i]);
    std::printf("  task %2d  %-34s sum=%-16.6f mean=%-10.6f min=%-10.6f max=%.6f\n", s.filter_id,
                s.description.c_str(), s.sum, s.mean, s.min, s.max);
    results.push_back(s);
  }
  const double parallel_s = Seconds(t0);
  std::printf("Put + %d tasks + collecting results took %.3f s.\n", tasks, parallel_s);

  std::printf("Now doing the same %d filters one after another in the driver, to compare...\n", tasks);
  auto t1 = std::chrono::steady_clock::now();
  int bad = 0;
  for (int i = 0; i < tasks; ++i) {
    Summary e = Filter(m.data(), n, i);
    const Summary &g = results[i];
    if (g.filter_id != i || !Close(g.sum, e.sum) || !Close(g.mean, e.mean) || !Close(g.min, e.min) ||
        !Close(g.max, e.max)) {
      std::printf("  MISMATCH on task %d: got sum=%.9f, expected %.9f\n", i, g.sum, e.sum);
      ++bad;
    }
  }
  const double serial_s = Seconds(t1);
  std::printf("Serial in the driver took %.3f s (speed-up with tasks: %.2fx).\n", serial_s,
              serial_s / parallel_s);
  ray::Shutdown();
  if (bad) {
    std::printf("FAILED: %d of %d results did not match the serial computation.\n", bad, tasks);
    return 1;
  }
  std::printf("OK: all %d task results match the serial computation.\n", tasks);
  return 0;
}
