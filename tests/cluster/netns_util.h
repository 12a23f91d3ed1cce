// Network namespaces for multi-node tests: each node of a test cluster gets
// its own network stack and IP address, so that nodes reach each other only
// over the network (TCP between the namespaces' addresses), as on separate
// machines. The namespaces hang off one bridge by veth pairs; addresses come
// from a private range (10.213.N.0/24) and no route leads elsewhere, so the
// test's traffic stays between the namespaces' own addresses.
//
// Names are unique per process and cluster (parallel test runs do not
// clash); everything is deleted when the NetnsCluster goes, even after a
// failed assertion, and what a killed test run left behind (its process
// gone) is deleted by the next one. A link taken down (SetLinkUp) cuts its
// node off the others: the hook for tests of nodes cut off from the network.
//
// Needs root and `ip` (iproute2); Unavailable() says why not otherwise, for
// GTEST_SKIP. Header-only, no Lumen library. Not thread-safe: one test
// thread creates, uses and destroys a cluster.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace lumen::testing {

/// Runs `argv` (argv[0] a path) to its end; returns its exit status (-1 if it
/// could not run), its output and errors in `out` when given.
inline int RunCommand(const std::vector<std::string> &argv, std::string *out = nullptr) {
  char path[] = "/tmp/lumen-netns-cmd-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  unlink(path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    std::vector<char *> args;
    for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = -1;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) status = -1;
  if (out) {
    out->clear();
    lseek(fd, 0, SEEK_SET);
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Where `ip` is, or empty.
inline std::string IpProgram() {
  for (const char *p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

class NetnsCluster {
 public:
  /// Why this process cannot make namespaces (empty: it can).
  static std::string Unavailable() {
    if (geteuid() != 0) return "network-namespace tests need root (CI runs them as root)";
    if (IpProgram().empty()) return "network-namespace tests need the `ip` program (iproute2)";
    std::string out;
    if (RunCommand({IpProgram(), "netns", "list"}, &out) != 0) return "`ip netns` does not work here: " + out;
    return "";
  }

  /// Makes `nodes` namespaces joined by a bridge; ok() says whether it worked.
  explicit NetnsCluster(int nodes) {
    static std::atomic<int> made{0};
    const int k = made++;
    const std::string tag = std::to_string(getpid() % 100000) + std::to_string(k % 10);
    prefix_ = "lumen-t-" + std::to_string(getpid()) + "-";
    ip_ = IpProgram();
    DeleteLeftovers();
    bridge_ = "lb" + tag;
    subnet_ = "10.213." + std::to_string((getpid() * 7 + k) % 250 + 1) + ".";
    Ip({"link", "del", bridge_}, /*quiet=*/true);  // left by a killed run whose pid this reuses
    if (!Ip({"link", "add", bridge_, "type", "bridge"}) || !Ip({"link", "set", bridge_, "up"})) return;
    for (int i = 0; i < nodes; ++i) {
      Node n;
      n.ns = prefix_ + std::to_string(k) + "-" + std::to_string(i);
      n.host_link = "lv" + tag + "h" + std::to_string(i);
      const std::string inside = "lv" + tag + "n" + std::to_string(i);
      n.ip = subnet_ + std::to_string(i + 1);
      if (!Ip({"netns", "add", n.ns})) return;
      nodes_.push_back(n);
      if (!Ip({"link", "add", n.host_link, "type", "veth", "peer", "name", inside}) ||
          !Ip({"link", "set", n.host_link, "master", bridge_}) || !Ip({"link", "set", n.host_link, "up"}) ||
          !Ip({"link", "set", inside, "netns", n.ns}) ||
          !Ip({"netns", "exec", n.ns, ip_, "addr", "add", n.ip + "/24", "dev", inside}) ||
          !Ip({"netns", "exec", n.ns, ip_, "link", "set", inside, "up"}) ||
          !Ip({"netns", "exec", n.ns, ip_, "link", "set", "lo", "up"}))
        return;
    }
    ok_ = true;
  }
  ~NetnsCluster() { Destroy(); }
  NetnsCluster(const NetnsCluster &) = delete;
  NetnsCluster &operator=(const NetnsCluster &) = delete;

  bool ok() const { return ok_; }
  /// What failed while making the cluster.
  const std::string &error() const { return error_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string &ns(int i) const { return nodes_.at(i).ns; }
  const std::string &ip(int i) const { return nodes_.at(i).ip; }

  /// The program and arguments that run `argv` inside namespace `i`.
  std::pair<std::string, std::vector<std::string>> In(int i, const std::vector<std::string> &argv) const {
    std::vector<std::string> args = {"netns", "exec", ns(i)};
    args.insert(args.end(), argv.begin(), argv.end());
    return {ip_, args};
  }

  /// Takes node `i`'s link down (cut off from the others) or up again.
  bool SetLinkUp(int i, bool up) { return Ip({"link", "set", nodes_.at(i).host_link, up ? "up" : "down"}); }

  /// Deletes the namespaces (their ends of the veth pairs, and so the pairs,
  /// go with them) and the bridge. Processes still inside keep running
  /// without a network: stop them first.
  void Destroy() {
    for (const Node &n : nodes_) {
      Ip({"link", "del", n.host_link}, /*quiet=*/true);
      Ip({"netns", "del", n.ns}, /*quiet=*/true);
    }
    nodes_.clear();
    if (!bridge_.empty()) Ip({"link", "del", bridge_}, /*quiet=*/true);
    bridge_.clear();
    ok_ = false;
  }

 private:
  struct Node {
    std::string ns, ip, host_link;
  };

  bool Ip(std::vector<std::string> args, bool quiet = false) {
    args.insert(args.begin(), ip_);
    std::string out;
    if (RunCommand(args, &out) == 0) return true;
    if (!quiet && error_.empty()) {
      std::ostringstream cmd;
      for (const std::string &a : args) cmd << a << " ";
      error_ = cmd.str() + "failed: " + out;
    }
    return false;
  }

  // Namespaces named by a test process that no longer runs (killed before
  // it could clean up): deleted, with their bridge's links gone with them.
  void DeleteLeftovers() {
    std::string out;
    if (RunCommand({ip_, "netns", "list"}, &out) != 0) return;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      std::string name = line.substr(0, line.find(' '));
      if (name.rfind("lumen-t-", 0) != 0) continue;
      const std::string rest = name.substr(8);
      const pid_t pid = static_cast<pid_t>(std::atol(rest.substr(0, rest.find('-')).c_str()));
      if (pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH)
        Ip({"netns", "del", name}, /*quiet=*/true);
    }
  }

  std::string ip_, prefix_, bridge_, subnet_, error_;
  std::vector<Node> nodes_;
  bool ok_ = false;
};

}  // namespace lumen::testing
