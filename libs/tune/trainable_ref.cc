// TrainableRef: a function as a (module, offset) pair that survives a fork
// and a fresh start of the same executable with another address layout.
// Modules are found with dl_iterate_phdr (the load bias is the same quantity
// on both sides, for PIE and non-PIE code alike) and identified by their GNU
// build id, falling back to the file's path when the linker wrote none.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "ray/tune/trainable.h"

namespace ray {
namespace tune {
namespace {

// Bytes of code hashed to check that the worker found the same function: long
// enough to tell functions apart, short enough to stay inside the smallest.
constexpr std::size_t kHashedCodeBytes = 32;

struct Module {
  std::string path;
  std::string build_id;
  std::uintptr_t bias = 0;
  // The executable segment holding the address asked about, if any.
  std::uintptr_t segment_end = 0;
  bool in_module = false;
  bool in_executable_segment = false;
};

std::string ExecutablePath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string Hex(const unsigned char *bytes, std::size_t n) {
  static const char *digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string BuildId(const dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto *p = reinterpret_cast<const unsigned char *>(info->dlpi_addr + ph.p_vaddr);
    const unsigned char *end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof(note));
      const unsigned char *name = p + sizeof(note);
      const unsigned char *desc = name + ((note.n_namesz + 3) & ~3u);
      if (desc + note.n_descsz > end) break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0)
        return Hex(desc, note.n_descsz);
      p = desc + ((note.n_descsz + 3) & ~3u);
    }
  }
  return "";
}

std::string ModulePath(const dl_phdr_info *info) {
  // The main program is listed with an empty name.
  return info->dlpi_name && info->dlpi_name[0] ? std::string(info->dlpi_name) : ExecutablePath();
}

// Fills `segment_end` and the flags for `address` in `info`'s module.
void LocateIn(const dl_phdr_info *info, std::uintptr_t address, Module *m) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (address < start || address >= start + ph.p_memsz) continue;
    m->in_module = true;
    if (ph.p_flags & PF_X) {
      m->in_executable_segment = true;
      m->segment_end = start + ph.p_memsz;
    }
  }
}

// The loaded module holding `address`.
Module ModuleOf(std::uintptr_t address) {
  struct Search {
    std::uintptr_t address;
    Module found;
  } search{address, {}};
  dl_iterate_phdr(
      [](dl_phdr_info *info, std::size_t, void *data) -> int {
        auto *s = static_cast<Search *>(data);
        Module m;
        LocateIn(info, s->address, &m);
        if (!m.in_module) return 0;
        m.path = ModulePath(info);
        m.build_id = BuildId(info);
        m.bias = info->dlpi_addr;
        s->found = m;
        return 1;
      },
      &search);
  return search.found;
}

// The loaded module with this identity: the build id when both sides have
// one, else the path. `offset` is located in it.
Module FindModule(const std::string &build_id, const std::string &path, std::uint64_t offset) {
  struct Search {
    const std::string &build_id;
    const std::string &path;
    std::uint64_t offset;
    Module found;
  } search{build_id, path, offset, {}};
  dl_iterate_phdr(
      [](dl_phdr_info *info, std::size_t, void *data) -> int {
        auto *s = static_cast<Search *>(data);
        std::string id = BuildId(info);
        std::string path = ModulePath(info);
        bool same = !s->build_id.empty() && !id.empty() ? id == s->build_id : path == s->path;
        if (!same) return 0;
        Module m;
        m.path = path;
        m.build_id = id;
        m.bias = info->dlpi_addr;
        LocateIn(info, m.bias + s->offset, &m);
        s->found = m;
        return 1;
      },
      &search);
  return search.found;
}

// FNV-1a over the function's first bytes, cut at its segment's end.
std::uint64_t CodeHash(std::uintptr_t address, std::uintptr_t segment_end) {
  std::size_t n = std::min<std::size_t>(kHashedCodeBytes, segment_end - address);
  auto *p = reinterpret_cast<const unsigned char *>(address);
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// The exported symbol that starts exactly at `address`; empty for code in the
// main program (not linked with -rdynamic) or for internal functions.
std::string SymbolAt(std::uintptr_t address) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(address), &info) == 0 || info.dli_sname == nullptr ||
      reinterpret_cast<std::uintptr_t>(info.dli_saddr) != address)
    return "";
  return info.dli_sname;
}

}  // namespace

TrainableRef TrainableRef::FromAddress(Kind kind, std::uintptr_t address) {
  const char *what = kind == kClass ? "class trainable's factory" : "trainable function";
  if (address == 0) throw TuneError(std::string("the ") + what + " is null");
  Module m = ModuleOf(address);
  if (!m.in_executable_segment) {
    std::ostringstream msg;
    msg << "the " << what << " at 0x" << std::hex << address
        << " is not code in any loaded module, so a trial's worker could not find it; pass a plain "
           "function or a lambda without captures";
    throw TuneError(msg.str());
  }
  TrainableRef ref;
  ref.kind_ = kind;
  ref.module_path_ = m.path;
  ref.build_id_ = m.build_id;
  ref.offset_ = address - m.bias;
  ref.symbol_ = SymbolAt(address);
  ref.code_hash_ = CodeHash(address, m.segment_end);
  return ref;
}

std::uintptr_t TrainableRef::Resolve(Kind kind) const {
  if (kind != kind_)
    throw TuneError("the trainable " + Describe() + " is a " + (kind_ == kClass ? "class" : "function") +
                    ", not a " + (kind == kClass ? "class" : "function"));
  Module m = FindModule(build_id_, module_path_, offset_);
  if (m.path.empty())
    throw TuneError("the trainable " + Describe() +
                    " cannot be found in this process: its module is not loaded here (run the same "
                    "program on every node)");
  std::uintptr_t address = m.bias + offset_;
  if (!m.in_executable_segment || CodeHash(address, m.segment_end) != code_hash_)
    throw TuneError("the trainable " + Describe() +
                    " resolved to different code in this process: the module differs from the driver's (a "
                    "different build of the program?)");
  if (!symbol_.empty() && SymbolAt(address) != symbol_)
    throw TuneError("the trainable " + Describe() + " resolved to another symbol in this process");
  return address;
}

TrainFunction TrainableRef::ResolveFunction() const {
  return reinterpret_cast<TrainFunction>(Resolve(kFunction));
}

TrainableFactory TrainableRef::ResolveFactory() const {
  return reinterpret_cast<TrainableFactory>(Resolve(kClass));
}

Json TrainableRef::ToJson() const {
  Json out{{"kind", kind_ == kClass ? "class" : "function"},
           {"module", module_path_},
           {"build_id", build_id_},
           {"offset", offset_},
           {"symbol", symbol_},
           {"code_hash", code_hash_}};
  if (!parameters_.is_null()) out["parameters"] = parameters_;
  return out;
}

TrainableRef TrainableRef::FromJson(const Json &json) {
  try {
    TrainableRef ref;
    const std::string kind = json.at("kind").get<std::string>();
    if (kind != "class" && kind != "function") throw TuneError("unknown kind \"" + kind + "\"");
    ref.kind_ = kind == "class" ? kClass : kFunction;
    ref.module_path_ = json.at("module").get<std::string>();
    ref.build_id_ = json.at("build_id").get<std::string>();
    ref.offset_ = json.at("offset").get<std::uint64_t>();
    ref.symbol_ = json.at("symbol").get<std::string>();
    ref.code_hash_ = json.at("code_hash").get<std::uint64_t>();
    if (json.contains("parameters")) ref.parameters_ = json.at("parameters");
    return ref;
  } catch (const Json::exception &e) {
    throw TuneError(std::string("malformed trainable reference: ") + e.what());
  } catch (const TuneError &e) {
    throw TuneError(std::string("malformed trainable reference: ") + e.what());
  }
}

std::string TrainableRef::Name() const {
  std::string name;
  int status = -1;
  char *demangled =
      symbol_.empty() ? nullptr : abi::__cxa_demangle(symbol_.c_str(), nullptr, nullptr, &status);
  if (demangled != nullptr && status == 0) {
    name = demangled;
    std::free(demangled);
  } else {
    name = symbol_;
  }
  if (kind_ == kClass) {
    // "ray::tune::Trainable* ray::tune::NewTrainable<ns::MyTrainable>()": the
    // template argument.
    const size_t open = name.find('<'), close = name.rfind('>');
    name = open != std::string::npos && close != std::string::npos && close > open
               ? name.substr(open + 1, close - open - 1)
               : std::string();
  } else {
    name = name.substr(0, name.find('('));  // "ns::Train(...)": drop the parameters
  }
  name = name.substr(name.rfind(':') == std::string::npos ? 0 : name.rfind(':') + 1);
  std::string clean;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') clean += c;
  return clean.empty() ? "trainable" : clean;
}

std::string TrainableRef::Describe() const {
  std::ostringstream out;
  out << (kind_ == kClass ? "class factory " : "function ");
  if (!symbol_.empty())
    out << symbol_;
  else
    out << "+0x" << std::hex << offset_;
  out << " in " << module_path_;
  return out.str();
}

}  // namespace tune
}  // namespace ray
