// Sweep points as child processes of the same binary: a bounded local pool, timeouts, resume
// markers, and results.csv gathered from the point directories.
#include "platforms/sweep_run.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "platforms/cli.h"
#include "platforms/config.h"

extern char** environ;

namespace iommusim::sweep {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const char* status_name(Status s) {
  switch (s) {
    case Status::Ok: return "ok";
    case Status::Failed: return "failed";
    case Status::Timeout: return "timeout";
  }
  return "?";
}

std::string self_exe(const std::string& argv0) {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) return p.string();
  const fs::path a = fs::absolute(argv0, ec);
  return ec ? argv0 : a.string();
}

std::string sh_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string fingerprint(const Point& p) {
  std::string f = "config " + p.base + "\n";
  for (const auto& s : p.sets) f += "set " + s + "\n";
  return f;
}

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// The last non-empty line of a point's log: the child's one-line error.
std::string last_line(const fs::path& log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

std::string seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, s < 10 ? "%.2fs" : "%.0fs", s);
  return b;
}

struct Child {
  const Point* p = nullptr;
  pid_t pid = -1;
  Clock::time_point start;
  bool timed_out = false;
};

struct Outcome {
  Status status;
  std::string why;  // for failures: exit status and the child's last line
  double wall_s;
};

// Starts the point's process with stdout and stderr in DIR/points/<id>/log.txt.
Child start(const Point& p, const SweepOptions& o, std::string& err) {
  const fs::path dir = point_dir(p, o.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    err = "cannot create " + dir.string() + ": " + ec.message();
    return {};
  }
  for (const char* f : {"complete", "status", "stats.json"}) fs::remove(dir / f, ec);
  const std::vector<std::string> args = point_argv(p, o);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The banner would only clutter the point logs.
  std::vector<std::string> env_s;
  bool has_banner_var = false;
  for (char** e = environ; *e; ++e) {
    env_s.emplace_back(*e);
    has_banner_var |= env_s.back().rfind("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=", 0) == 0;
  }
  if (!has_banner_var) env_s.emplace_back("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1");
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  const std::string log = (dir / "log.txt").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  Child c;
  c.p = &p;
  c.start = Clock::now();
  const int rc = posix_spawn(&c.pid, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    err = "cannot start " + args[0] + ": " + std::strerror(rc);
    return {};
  }
  return c;
}

Outcome finish(const Child& c, int wstatus, const SweepOptions& o, double timeout_s) {
  const fs::path dir = point_dir(*c.p, o.out_dir);
  Outcome r{Status::Failed, "", std::chrono::duration<double>(Clock::now() - c.start).count()};
  const std::string tail = last_line(dir / "log.txt");
  std::error_code ec;
  if (c.timed_out) {
    r.status = Status::Timeout;
    r.why = "killed after " + seconds(r.wall_s) + " (the sweep's timeout is " + seconds(timeout_s) + ")";
  } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && fs::exists(dir / "stats.json", ec)) {
    r.status = Status::Ok;
  } else if (WIFEXITED(wstatus)) {
    r.why = "exit " + std::to_string(WEXITSTATUS(wstatus));
  } else if (WIFSIGNALED(wstatus)) {
    r.why = "killed by signal " + std::to_string(WTERMSIG(wstatus)) + " (" + strsignal(WTERMSIG(wstatus)) + ")";
  }
  if (r.status != Status::Ok && !tail.empty()) r.why += (r.why.empty() ? "" : ": ") + tail;
  write_file(dir / "status", std::string(status_name(r.status)) + "\n" + (r.why.empty() ? "" : r.why + "\n"));
  if (r.status == Status::Ok) write_file(dir / "complete", fingerprint(*c.p));
  return r;
}

// Prints what finished: a line per point, or on a terminal one line updated in place; failures
// always get a line of their own (also with -q).
class Reporter {
 public:
  Reporter(size_t total, size_t skipped, int verbosity)
      : total_(total), done_(skipped), verbosity_(verbosity), tty_(isatty(2) == 1) {}

  void finished(const Point& p, const Outcome& r, size_t running) {
    ++done_;
    if (r.status == Status::Ok)
      ++ok_;
    else
      ++bad_;
    char head[64];
    std::snprintf(head, sizeof head, "[%zu/%zu] ", done_, total_);
    const std::string what = p.id + " " + status_name(r.status) + " (" + seconds(r.wall_s) + ")";
    if (r.status != Status::Ok) {
      clear();
      std::cerr << "iommusim: point " << p.id << " " << status_name(r.status) << ": " << r.why << "\n";
    }
    if (verbosity_ < 0) return;
    if (!tty_) {
      if (r.status == Status::Ok) std::cerr << head << what << "\n";
      return;
    }
    std::cerr << "\r\033[K" << head << ok_ << " ok, " << bad_ << " failed, " << running << " running; last " << what
              << std::flush;
    line_ = true;
  }
  void clear() {
    if (line_) std::cerr << "\r\033[K" << std::flush;
    line_ = false;
  }

 private:
  size_t total_, done_, ok_ = 0, bad_ = 0;
  int verbosity_;
  bool tty_, line_ = false;
};

// Runs `todo` with at most o.jobs children at a time.
void run_pool(const Spec& s, const std::vector<const Point*>& todo, const SweepOptions& o, Reporter& rep,
              std::vector<Outcome>* outcomes) {
  std::vector<Child> running;
  size_t next = 0;
  const unsigned jobs = std::max(1u, o.jobs);
  while (next < todo.size() || !running.empty()) {
    while (running.size() < jobs && next < todo.size()) {
      const Point& p = *todo[next++];
      std::string err;
      Child c = start(p, o, err);
      if (c.pid < 0) {
        const Outcome r{Status::Failed, err, 0};
        write_file(fs::path(point_dir(p, o.out_dir)) / "status", "failed\n" + err + "\n");
        rep.finished(p, r, running.size());
        if (outcomes) outcomes->push_back(r);
        continue;
      }
      running.push_back(c);
    }
    bool reaped = false;
    for (size_t i = 0; i < running.size();) {
      Child& c = running[i];
      int st = 0;
      const pid_t w = waitpid(c.pid, &st, WNOHANG);
      if (w == c.pid || w < 0) {
        if (w < 0) st = 0xff00;  // lost track of the child (cannot happen unless reaped elsewhere): exit 255
        const Outcome r = finish(c, st, o, s.timeout_s);
        rep.finished(*c.p, r, running.size() - 1);
        if (outcomes) outcomes->push_back(r);
        running.erase(running.begin() + static_cast<long>(i));
        reaped = true;
        continue;
      }
      if (s.timeout_s > 0 && !c.timed_out &&
          std::chrono::duration<double>(Clock::now() - c.start).count() > s.timeout_s) {
        kill(c.pid, SIGKILL);
        c.timed_out = true;
      }
      ++i;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  rep.clear();
}

// A value as results.csv shows it: numbers as JSON prints them, strings without quotes.
std::string json_cell(const ojson& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void flatten(const ojson& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    return;
  }
  out.emplace_back(prefix, json_cell(j));
}

// A dotted path into stats.json; keys may themselves hold dots (component names such as
// "smmu0.iotlb"), so every key that prefixes the rest of the path is tried, longest first.
const ojson* lookup(const ojson& j, const std::string& path) {
  if (path.empty()) return &j;
  if (!j.is_object()) return nullptr;
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (path.compare(0, k.size(), k) == 0 && (path.size() == k.size() || path[k.size()] == '.')) keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& k : keys)
    if (const ojson* r = lookup(j[k], path.size() == k.size() ? "" : path.substr(k.size() + 1))) return r;
  return nullptr;
}

}  // namespace

std::string point_dir(const Point& p, const std::string& out_dir) {
  return (fs::path(out_dir) / "points" / p.id).string();
}

std::vector<std::string> point_argv(const Point& p, const SweepOptions& o) {
  std::vector<std::string> a{o.exe, "run", p.base};
  for (const auto& s : p.sets) a.push_back("--set=" + s);
  a.push_back("--out=" + point_dir(p, o.out_dir));
  a.push_back("-q");
  return a;
}

bool is_complete(const Point& p, const std::string& out_dir) {
  const fs::path dir = point_dir(p, out_dir);
  std::error_code ec;
  return fs::exists(dir / "stats.json", ec) && fs::exists(dir / "complete", ec) &&
         read_file(dir / "complete") == fingerprint(p);
}

void resolve_seeds(Spec& s) {
  std::map<std::string, uint64_t> seed_of;
  for (Point& p : s.points) {
    auto it = seed_of.find(p.base);
    if (it == seed_of.end()) {
      try {
        it = seed_of.emplace(p.base, load_config(p.base, s.fixed_sets, default_registry()).seed).first;
      } catch (const ConfigError& e) {
        // An override from the sweep's set: is reported at its line there, not as a --set.
        std::string msg = e.what();
        for (size_t i = 0; i < s.fixed_sets.size(); ++i) {
          const std::string prefix = "--set " + s.fixed_sets[i] + ": ";
          if (!s.fixed_where[i].empty() && msg.rfind(prefix, 0) == 0) {
            msg = s.fixed_where[i] + ": set: " + msg.substr(prefix.size());
            break;
          }
        }
        throw ConfigError(msg + " (in the base config " + p.base + " of sweep " + s.path + ")");
      }
    }
    if (!p.seed) p.seed = it->second;
  }
}

void write_sweep_info(const Spec& s, const SweepOptions& o) {
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) throw ConfigError("--out " + o.out_dir + ": cannot create directory: " + ec.message());
  const fs::path dir(o.out_dir);
  write_file(dir / "sweep.yaml", read_file(s.path));
  ojson j;
  j["version"] = cli::version();
  j["sweep"] = fs::absolute(s.path, ec).string();
  j["cwd"] = fs::current_path(ec).string();
  j["command"] = o.command;
  std::string rerun = "cd " + sh_quote(j["cwd"].get<std::string>()) + " &&";
  for (size_t i = 0; i < o.command.size(); ++i) rerun += " " + sh_quote(i == 0 ? o.exe : o.command[i]);
  j["rerun"] = rerun;
  j["points"] = s.points.size();
  j["columns"] = s.columns;
  write_file(dir / "sweep.json", j.dump(2) + "\n");
}

Status run_point(const Spec& s, const Point& p, const SweepOptions& o) {
  if (is_complete(p, o.out_dir)) return Status::Ok;
  Reporter rep(1, 0, -1);
  std::vector<Outcome> out;
  run_pool(s, {&p}, o, rep, &out);
  return out.empty() ? Status::Failed : out.front().status;
}

int run_local(const Spec& s, const SweepOptions& o) {
  std::vector<const Point*> todo;
  for (const Point& p : s.points)
    if (!is_complete(p, o.out_dir)) todo.push_back(&p);
  const size_t skipped = s.points.size() - todo.size();
  if (o.verbosity >= 0 && skipped)
    std::cerr << "iommusim: " << skipped << " of " << s.points.size() << " points already complete in " << o.out_dir
              << "\n";
  Reporter rep(s.points.size(), skipped, o.verbosity);
  run_pool(s, todo, o, rep, nullptr);
  const Tally t = gather(s, o.out_dir);
  if (o.verbosity >= 0) {
    std::cout << "sweep: " << s.points.size() << " points (" << todo.size() << " run, " << skipped
              << " already complete): " << t.ok << " ok, " << t.failed << " failed, " << t.timeout << " timed out -> "
              << (fs::path(o.out_dir) / "results.csv").string() << "\n";
  }
  return t.failed || t.timeout ? 1 : 0;
}

Tally gather(const Spec& s, const std::string& out_dir) {
  struct Row {
    Status status = Status::Failed;
    std::vector<std::pair<std::string, std::string>> summary;
    std::vector<std::string> stats;
  };
  std::vector<Row> rows(s.points.size());
  std::vector<std::string> summary_keys;
  Tally t;
  for (const Point& p : s.points) {
    Row& r = rows[p.index];
    const fs::path dir = point_dir(p, out_dir);
    if (is_complete(p, out_dir)) {
      try {
        const ojson j = ojson::parse(read_file(dir / "stats.json"));
        if (j.contains("summary")) flatten(j["summary"], "", r.summary);
        for (const auto& path : s.stats) {
          const ojson* v = lookup(j, path);
          r.stats.push_back(v ? json_cell(*v) : "");
        }
        r.status = Status::Ok;
      } catch (const nlohmann::json::exception&) {
        r = Row{};
      }
    } else {
      std::error_code ec;
      if (fs::exists(dir / "status", ec) && read_file(dir / "status").rfind("timeout", 0) == 0)
        r.status = Status::Timeout;
    }
    for (const auto& [k, v] : r.summary)
      if (std::find(summary_keys.begin(), summary_keys.end(), k) == summary_keys.end()) summary_keys.push_back(k);
    (r.status == Status::Ok ? t.ok : r.status == Status::Timeout ? t.timeout : t.failed)++;
  }

  std::string csv = "point";
  for (const auto& c : s.columns) csv += "," + csv_field(c);
  csv += ",seed,status";
  for (const auto& k : summary_keys) csv += "," + csv_field(k);
  for (const auto& k : s.stats) csv += "," + csv_field(k);
  csv += "\n";
  for (const Point& p : s.points) {
    const Row& r = rows[p.index];
    csv += p.id;
    for (const auto& c : p.cells) csv += "," + csv_field(c);
    csv += "," + (p.seed ? std::to_string(*p.seed) : std::string()) + "," + status_name(r.status);
    for (const auto& k : summary_keys) {
      auto it = std::find_if(r.summary.begin(), r.summary.end(), [&](const auto& kv) { return kv.first == k; });
      csv += "," + (it == r.summary.end() ? std::string() : csv_field(it->second));
    }
    for (size_t i = 0; i < s.stats.size(); ++i)
      csv += "," + (i < r.stats.size() ? csv_field(r.stats[i]) : std::string());
    csv += "\n";
  }
  const fs::path out = fs::path(out_dir) / "results.csv", tmp = fs::path(out_dir) / "results.csv.tmp";
  write_file(tmp, csv);
  fs::rename(tmp, out);
  return t;
}

}  // namespace iommusim::sweep
