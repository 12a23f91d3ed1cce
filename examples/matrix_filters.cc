// matrix_filters: the classic "put a big object once, fan out many tasks over
// it" Ray program. A large matrix is stored with ray::Put, then N tasks each
// apply a different filter to it and return a small summary. The driver checks
// every summary against a serial computation of the same filter.
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

struct Matrix {
  int rows = 0;
  int cols = 0;
  std::vector<double> data;
};

// Matrix is serialized as [rows, cols, raw bytes of data]: msgpack's default
// encoding of std::vector<double> writes (and decodes) every element on its
// own, which costs far more than the filters; a bin blob decodes with one memcpy.
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <>
  struct pack<Matrix> {
    template <typename Stream>
    packer<Stream> &operator()(packer<Stream> &o, const Matrix &m) const {
      const size_t bytes = m.data.size() * sizeof(double);
      o.pack_array(3);
      o.pack(m.rows);
      o.pack(m.cols);
      o.pack_bin(static_cast<uint32_t>(bytes));
      o.pack_bin_body(reinterpret_cast<const char *>(m.data.data()), static_cast<uint32_t>(bytes));
      return o;
    }
  };
  template <>
  struct convert<Matrix> {
    const msgpack::object &operator()(const msgpack::object &o, Matrix &m) const {
      if (o.type != msgpack::type::ARRAY || o.via.array.size != 3 ||
          o.via.array.ptr[2].type != msgpack::type::BIN) {
        throw msgpack::type_error();
      }
      m.rows = o.via.array.ptr[0].as<int>();
      m.cols = o.via.array.ptr[1].as<int>();
      const msgpack::object_bin &bin = o.via.array.ptr[2].via.bin;
      if (bin.size != static_cast<uint64_t>(m.rows) * m.cols * sizeof(double)) throw msgpack::type_error();
      m.data.resize(bin.size / sizeof(double));
      std::memcpy(m.data.data(), bin.ptr, bin.size);
      return o;
    }
  };
  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack

struct Summary {
  int filter_id = 0;
  std::string description;
  double sum = 0, mean = 0, min = 0, max = 0;
  MSGPACK_DEFINE(filter_id, description, sum, mean, min, max);
};

static Matrix MakeMatrix(int n) {
  Matrix m;
  m.rows = n;
  m.cols = n;
  m.data.resize(static_cast<size_t>(n) * n);
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  for (auto &v : m.data) {
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

// Applies filter `id` to m and summarises the filtered matrix (never stored).
static Summary ApplyFilter(const Matrix &m, int id) {
  const int R = m.rows, C = m.cols;
  const double *d = m.data.data();
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
    for (size_t i = 0; i < m.data.size(); ++i) take(d[i] * k);
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
    for (size_t i = 0; i < m.data.size(); ++i) take(d[i] >= t ? 1.0 : 0.0);
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
  out.mean = sum / static_cast<double>(m.data.size());
  out.min = mn;
  out.max = mx;
  return out;
}
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
  Matrix m = MakeMatrix(n);
  const double mib = m.data.size() * sizeof(double) / 1048576.0;
  std::printf("Built a %dx%d matrix of doubles (%.1f MiB).\n", n, n, mib);

  auto t0 = std::chrono::steady_clock::now();
  ray::ObjectRef<Matrix> ref = ray::Put(m);
  std::printf("Stored it once in the object store with ray::Put (%.3f s).\n", Seconds(t0));

  std::printf("Submitting %d tasks; each reads the same stored matrix and applies a different filter.\n",
              tasks);
  std::vector<ray::ObjectRef<Summary>> refs;
  for (int i = 0; i < tasks; ++i) refs.push_back(ray::Task(ApplyFilter).Remote(ref, i));

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
    Summary e = ApplyFilter(m, i);
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
