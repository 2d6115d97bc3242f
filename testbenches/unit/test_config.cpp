// Unit tests for the platform config reader (platforms/config*.cpp) against a dummy registry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "platforms/config.h"

namespace iommusim {
namespace {
namespace fs = std::filesystem;

// Dummy parameter structs, one per kind, covering every ParamVisitor method.
struct CacheP {
  uint64_t entries = 64;
  Time hit = Time::ns(2);
  int policy = 0;
  void visit(ParamVisitor& v) {
    v.count("entries", entries, "number of entries", 1, 4096);
    v.time("hit_latency", hit, "hit latency", Time{}, Time::us(1));
    v.choice("policy", policy, {"lru", "fifo", "random"}, "replacement policy");
  }
};
struct MemP {
  uint64_t size = 64ull << 30;
  Time latency = Time::ns(80);
  uint64_t channels = 2;
  void visit(ParamVisitor& v) {
    v.bytes("size", size, "capacity", 4096, 1ull << 40);
    v.time("latency", latency, "access latency");
    v.count("channels", channels, "channels", 1, 16);
  }
};
struct IommuP {
  CacheP iotlb;
  CacheP walk_cache{16, Time::ns(1), 1};
  uint64_t walkers = 4;
  double clock = 1.0;
  bool ats = true;
  std::string label;
  void visit(ParamVisitor& v) {
    v.group("iotlb", iotlb, "IOTLB");
    v.group("walk_cache", walk_cache, "walk cache");
    v.count("walkers", walkers, "page-table walkers", 1, 64);
    v.real("clock", clock, "GHz", "clock frequency", 0.1, 10);
    v.flag("ats", ats, "ATS support");
    v.text("label", label, "free text");
  }
};
struct RootPortP {
  double rate = 16;
  uint64_t lanes = 16;
  void visit(ParamVisitor& v) {
    v.real("rate", rate, "GT/s", "link rate", 2.5, 64);
    v.count("lanes", lanes, "link width", 1, 32);
  }
};
struct EndpointP {
  uint64_t queue = 32;
  bool ats = false;
  Time ats_timeout = Time::us(1);
  void visit(ParamVisitor& v) {
    v.count("queue", queue, "outstanding requests", 1, 1024);
    v.flag("ats", ats, "uses ATS");
    v.time("ats_timeout", ats_timeout, "ATS timeout", Time::ns(1));
  }
};
struct HostP {
  int policy = 0;
  Time trap = Time{};
  void visit(ParamVisitor& v) {
    v.choice("policy", policy, {"strict", "lazy"}, "invalidation policy");
    v.time("trap", trap, "trap cost");
  }
};
struct WorkloadP {
  uint64_t size = 4096;
  uint64_t outstanding = 8;
  double rate = 0;
  void visit(ParamVisitor& v) {
    v.bytes("size", size, "transfer size", 1, 1ull << 30);
    v.count("outstanding", outstanding, "window");
    v.real("rate", rate, "GB/s", "offered load (0: unlimited)", 0, 1e308);
  }
};

struct IntcP {
  uint64_t cpus = 4;
  void visit(ParamVisitor& v) { v.count("cpus", cpus, "CPUs", 1, 64); }
};

const Registry& test_registry() {
  static const Registry r = [] {
    Registry g;
    g.add<MemP>("sparse_memory", Kind::Memory, "sparse memory");
    g.add<IommuP>("smmuv3", Kind::Iommu, "Arm SMMUv3");
    g.add<IommuP>("vtd", Kind::Iommu, "Intel VT-d");
    g.add<RootPortP>("pcie_root_port", Kind::RootPort, "root port");
    g.add<EndpointP>("pcie_endpoint", Kind::Endpoint, "endpoint");
    g.add<HostP>("linux_host", Kind::Host, "host");
    g.add<IntcP>("cpu_interrupts", Kind::Interrupts, "CPU interrupts");
    g.add<WorkloadP>("stream", Kind::Workload, "stream");
    g.add<WorkloadP>("trace", Kind::Workload, "trace");
    return g;
  }();
  return r;
}

template <class P>
const P& P_of(const Section& s) {
  return params_as<P>(*s.params);
}

using Lines = std::vector<std::string>;

// Line i of the vector is line i+1 of the file; the tests below quote line numbers from this.
const Lines kBase = {
    "seed: 7",                                                   // 1
    "platform:",                                                 // 2
    "  memory: { size: 16GiB }",                                 // 3
    "  iommus:",                                                 // 4
    "    - name: smmu0",                                         // 5
    "      type: smmuv3",                                        // 6
    "      iotlb: { entries: 128, hit_latency: 3ns }",           // 7
    "      clock: 1.5GHz",                                       // 8
    "  root_ports:",                                             // 9
    "    - { name: rp0, iommu: smmu0 }",                         // 10
    "  endpoints:",                                              // 11
    "    - { name: nic0, port: rp0, rid: 0x0100, ats: true }",   // 12
    "run:",                                                      // 13
    "  duration: 1ms",                                           // 14
    "  workloads:",                                              // 15
    "    - { endpoint: nic0, size: 64KiB, rate: 12.5GB/s }",     // 16
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("iommusim_cfg_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const Lines& lines) {
    const std::string p = (dir_ / name).string();
    std::ofstream f(p);
    for (const auto& l : lines) f << l << "\n";
    return p;
  }
  std::string write_text(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  PlatformConfig load(const std::string& p, const std::vector<std::string>& sets = {}) {
    return load_config(p, sets, test_registry());
  }
  // The error message of loading `p`, or "<no error>".
  std::string err(const std::string& p, const std::vector<std::string>& sets = {}) {
    try {
      load(p, sets);
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
      return e.what();
    }
    return "<no error>";
  }
  // Base config with line `n` (1-based) replaced, or inserted before it when `insert`.
  std::string variant(size_t n, const std::string& line, bool insert = false) {
    Lines l = kBase;
    if (insert) {
      l.insert(l.begin() + static_cast<long>(n - 1), line);
    } else {
      l[n - 1] = line;
    }
    return write("v.yaml", l);
  }

  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsAndUnits) {
  const auto c = load(write("a.yaml", kBase));
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.duration.ps, 1000000000u);
  EXPECT_EQ(c.memory.name, "mem");
  EXPECT_EQ(c.memory.type, "sparse_memory");
  EXPECT_EQ(P_of<MemP>(c.memory).size, 16ull << 30);
  EXPECT_EQ(P_of<MemP>(c.memory).latency.ps, 80000u);  // default kept
  EXPECT_EQ(P_of<MemP>(c.memory).channels, 2u);
  ASSERT_EQ(c.iommus.size(), 1u);
  const auto& io = P_of<IommuP>(c.iommus[0]);
  EXPECT_EQ(c.iommus[0].name, "smmu0");
  EXPECT_EQ(c.iommus[0].type, "smmuv3");
  EXPECT_EQ(c.iommus[0].origin.line, 5);
  EXPECT_EQ(io.iotlb.entries, 128u);
  EXPECT_EQ(io.iotlb.hit.ps, 3000u);
  EXPECT_EQ(io.iotlb.policy, 0);
  EXPECT_EQ(io.walk_cache.entries, 16u);  // whole group defaulted
  EXPECT_EQ(io.walk_cache.policy, 1);
  EXPECT_DOUBLE_EQ(io.clock, 1.5);
  EXPECT_TRUE(io.ats);
  ASSERT_EQ(c.root_ports.size(), 1u);
  EXPECT_EQ(c.root_ports[0].type, "pcie_root_port");
  EXPECT_EQ(c.root_ports[0].ref, "smmu0");
  ASSERT_EQ(c.endpoints.size(), 1u);
  EXPECT_EQ(c.endpoints[0].ref, "rp0");
  EXPECT_EQ(c.endpoints[0].rid, 0x100);
  EXPECT_TRUE(P_of<EndpointP>(c.endpoints[0]).ats);
  EXPECT_EQ(c.host.name, "host");
  EXPECT_EQ(c.host.type, "linux_host");
  ASSERT_EQ(c.workloads.size(), 1u);
  EXPECT_EQ(c.workloads[0].name, "wl0");
  EXPECT_EQ(c.workloads[0].type, "stream");
  EXPECT_EQ(c.workloads[0].ref, "nic0");
  EXPECT_EQ(P_of<WorkloadP>(c.workloads[0]).size, 65536u);
  EXPECT_DOUBLE_EQ(P_of<WorkloadP>(c.workloads[0]).rate, 12.5);
  EXPECT_TRUE(c.log_levels.empty());
  EXPECT_EQ(c.find("nic0"), &c.endpoints[0]);
  EXPECT_EQ(c.find("mem"), &c.memory);
  EXPECT_EQ(c.find("nope"), nullptr);
}

TEST_F(ConfigTest, MoreValueForms) {
  const auto c = load(write("a.yaml", {"platform:",
                                       "  memory: { name: dram, size: 0x10000, latency: 0 }",
                                       "  iommus: [ { name: v0, type: vtd, label: \"hello: world\", ats: false } ]",
                                       "  root_ports: [ { name: rp0, iommu: v0, rate: 32 } ]",
                                       "  endpoints: [ { name: e0, port: rp0, rid: \"01:02.3\" } ]",
                                       "  host: { name: h, policy: lazy, trap: 2.5us }",
                                       "run: { duration: 10us }",
                                       "log: { default: info, v0: debug }"}));
  EXPECT_EQ(c.seed, 1u);
  EXPECT_EQ(c.memory.name, "dram");
  EXPECT_EQ(P_of<MemP>(c.memory).size, 65536u);
  EXPECT_EQ(P_of<MemP>(c.memory).latency.ps, 0u);
  EXPECT_EQ(P_of<IommuP>(c.iommus[0]).label, "hello: world");
  EXPECT_FALSE(P_of<IommuP>(c.iommus[0]).ats);
  EXPECT_DOUBLE_EQ(P_of<RootPortP>(c.root_ports[0]).rate, 32);
  EXPECT_EQ(c.endpoints[0].rid, (1 << 8) | (2 << 3) | 3);
  EXPECT_EQ(P_of<HostP>(c.host).policy, 1);
  EXPECT_EQ(P_of<HostP>(c.host).trap.ps, 2500000u);
  EXPECT_TRUE(c.workloads.empty());
  ASSERT_EQ(c.log_levels.size(), 2u);
  EXPECT_EQ(c.log_levels[0], (std::pair<std::string, std::string>{"default", "info"}));
  EXPECT_EQ(c.log_levels[1], (std::pair<std::string, std::string>{"v0", "debug"}));
}

TEST_F(ConfigTest, ExtendsMerges) {
  write("base.yaml", kBase);
  write("mid.yaml", {"extends: base.yaml",        // 1
                     "platform:",                 // 2
                     "  host: { policy: lazy }"});  // 3
  const std::string child = write("child.yaml", {
                                                    "extends: mid.yaml",             // 1
                                                    "platform:",                     // 2
                                                    "  iommus:",                     // 3
                                                    "    - name: smmu0",             // 4
                                                    "      iotlb: { entries: 256 }",  // 5
                                                    "    - { name: smmu1, type: vtd }",  // 6
                                                    "run:",                          // 7
                                                    "  duration: 2us",               // 8
                                                    "  workloads: [ { endpoint: nic0, type: trace } ]",  // 9
                                                });
  const auto c = load(child);
  ASSERT_EQ(c.iommus.size(), 2u);
  const auto& s0 = P_of<IommuP>(c.iommus[0]);
  EXPECT_EQ(c.iommus[0].type, "smmuv3");  // from base
  EXPECT_EQ(s0.iotlb.entries, 256u);      // child overrides
  EXPECT_EQ(s0.iotlb.hit.ps, 3000u);      // base's sibling key kept (deep merge)
  EXPECT_DOUBLE_EQ(s0.clock, 1.5);
  EXPECT_EQ(c.iommus[1].name, "smmu1");  // new name appended
  EXPECT_EQ(c.iommus[1].type, "vtd");
  EXPECT_EQ(P_of<HostP>(c.host).policy, 1);  // from the middle layer
  EXPECT_EQ(P_of<MemP>(c.memory).size, 16ull << 30);
  EXPECT_EQ(c.duration.ps, 2000000u);
  ASSERT_EQ(c.workloads.size(), 1u);  // unnamed list replaced, not appended
  EXPECT_EQ(c.workloads[0].type, "trace");
  EXPECT_EQ(P_of<WorkloadP>(c.workloads[0]).size, 4096u);
  EXPECT_EQ(c.path, child);
}

TEST_F(ConfigTest, ExtendsErrorsNameTheLayerThatSetTheKey) {
  Lines base = kBase;
  base[7] = "      walkers: 999";  // line 8, only in the base
  const std::string bp = write("base.yaml", base);
  const std::string child = write("child.yaml", {"extends: base.yaml", "platform:", "  iommus:",
                                                 "    - name: smmu0", "      iotlb: { entries: 0 }"});
  EXPECT_EQ(err(child), child + ":5: platform.iommus[smmu0].iotlb.entries: value 0 is out of range (allowed [1, 4096])");
  const std::string child2 = write("child2.yaml", {"extends: base.yaml"});
  EXPECT_EQ(err(child2), bp + ":8: platform.iommus[smmu0].walkers: value 999 is out of range (allowed [1, 64])");
  // The child's value replaces the base's: the error moves to the child's line.
  const std::string child3 = write("child3.yaml", {"extends: base.yaml", "platform:", "  iommus:",
                                                   "    - name: smmu0", "      walkers: 65"});
  EXPECT_EQ(err(child3), child3 + ":5: platform.iommus[smmu0].walkers: value 65 is out of range (allowed [1, 64])");
}

TEST_F(ConfigTest, SetOverrides) {
  const std::string p = write("a.yaml", kBase);
  const auto c = load(p, {"platform.iommus.smmu0.iotlb.entries=512", "platform.iommus.0.walkers=8",
                          "run.duration=5us", "platform.memory.latency=100ns", "log.smmu0=debug",
                          "platform.endpoints.nic0={queue: 64, ats: false}", "platform.host.policy=lazy",
                          "platform.iommus.smmu0.walk_cache.policy=random", "seed=0x10"});
  const auto& io = P_of<IommuP>(c.iommus[0]);
  EXPECT_EQ(io.iotlb.entries, 512u);
  EXPECT_EQ(io.iotlb.hit.ps, 3000u);
  EXPECT_EQ(io.walkers, 8u);
  EXPECT_EQ(io.walk_cache.policy, 2);
  EXPECT_EQ(c.duration.ps, 5000000u);
  EXPECT_EQ(P_of<MemP>(c.memory).latency.ps, 100000u);
  EXPECT_EQ(P_of<MemP>(c.memory).size, 16ull << 30);
  EXPECT_EQ(P_of<EndpointP>(c.endpoints[0]).queue, 64u);
  EXPECT_FALSE(P_of<EndpointP>(c.endpoints[0]).ats);
  EXPECT_EQ(c.endpoints[0].rid, 0x100);  // map value merged, not replaced
  EXPECT_EQ(P_of<HostP>(c.host).policy, 1);
  EXPECT_EQ(c.seed, 16u);
  ASSERT_EQ(c.log_levels.size(), 1u);
  EXPECT_EQ(c.log_levels[0].first, "smmu0");
  // A whole list can be replaced too.
  const auto c2 = load(p, {"run.workloads=[{endpoint: nic0, type: trace}, {endpoint: nic0, name: w2}]"});
  ASSERT_EQ(c2.workloads.size(), 2u);
  EXPECT_EQ(c2.workloads[0].type, "trace");
  EXPECT_EQ(c2.workloads[1].name, "w2");
}

TEST_F(ConfigTest, SetErrors) {
  const std::string p = write("a.yaml", kBase);
  EXPECT_EQ(err(p, {"platform.iommus.smmu0.iotlb.entires=4"}),
            "--set platform.iommus.smmu0.iotlb.entires=4: platform.iommus[smmu0].iotlb.entires: unknown key (did you mean 'entries'?)");
  EXPECT_EQ(err(p, {"platform.iommus.smmu0.walkers=0"}),
            "--set platform.iommus.smmu0.walkers=0: platform.iommus[smmu0].walkers: value 0 is out of range (allowed [1, 64])");
  EXPECT_EQ(err(p, {"platform.iommus.smmu9.walkers=1"}),
            "--set platform.iommus.smmu9.walkers=1: platform.iommus: no element 'smmu9' in this list (elements: [smmu0])");
  EXPECT_EQ(err(p, {"run.duration"}), "--set run.duration: expected key.path=value");
  EXPECT_EQ(err(p, {"run..duration=1ms"}), "--set run..duration=1ms: empty segment in key path 'run..duration'");
  EXPECT_EQ(err(p, {"run.duration.x=1"}), "--set run.duration.x=1: run.duration: is a scalar; cannot set 'x' inside it");
  EXPECT_EQ(err(p, {"run.duration=[1"}).rfind("--set run.duration=[1: run.duration: invalid value: ", 0), 0u);
  EXPECT_EQ(err(p, {"extends=x.yaml"}), "--set extends=x.yaml: extends: cannot be overridden with --set");
}

TEST_F(ConfigTest, UnknownKeys) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(7, "      iotlb: { entires: 4 }")),
            f + ":7: platform.iommus[smmu0].iotlb.entires: unknown key (did you mean 'entries'?)");
  EXPECT_EQ(err(variant(8, "      zzzzzz: 1")),
            f + ":8: platform.iommus[smmu0].zzzzzz: unknown key (valid keys: name, type, iotlb, walk_cache, walkers, clock, ats, label)");
  EXPECT_EQ(err(variant(2, "platfrom:")), f + ":2: platfrom: unknown key (did you mean 'platform'?)");
  EXPECT_EQ(err(variant(4, "  iommu:")), f + ":4: platform.iommu: unknown key (did you mean 'iommus'?)");
  EXPECT_EQ(err(variant(14, "  duraton: 1ms")), f + ":14: run.duraton: unknown key (did you mean 'duration'?)");
  EXPECT_EQ(err(variant(10, "    - { name: rp0, iommu: smmu0, lanse: 4 }")),
            f + ":10: platform.root_ports[rp0].lanse: unknown key (did you mean 'lanes'?)");
}

TEST_F(ConfigTest, WrongTypes) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(7, "      iotlb: 5")), f + ":7: platform.iommus[smmu0].iotlb: expected a map of parameters, not a scalar");
  EXPECT_EQ(err(variant(8, "      walkers: abc")),
            f + ":8: platform.iommus[smmu0].walkers: expected a non-negative integer, got 'abc'");
  EXPECT_EQ(err(variant(8, "      walkers: { a: 1 }")), f + ":8: platform.iommus[smmu0].walkers: expected an integer, not a map");
  EXPECT_EQ(err(variant(8, "      walkers:")), f + ":8: platform.iommus[smmu0].walkers: missing value (expected an integer)");
  EXPECT_EQ(err(variant(8, "      ats: yes")), f + ":8: platform.iommus[smmu0].ats: expected true or false, got 'yes'");
  EXPECT_EQ(err(variant(8, "      clock: fast")), f + ":8: platform.iommus[smmu0].clock: expected a number, got 'fast'");
  EXPECT_EQ(err(variant(3, "  memory: { latency: 80 }")),
            f + ":3: platform.memory.latency: a time needs a unit (ps, ns, us, ms, s), got '80'");
  EXPECT_EQ(err(variant(3, "  memory: { size: 12 parsecs }")),
            f + ":3: platform.memory.size: unknown size unit (use B, KiB, MiB, GiB, TiB, kB, MB, GB), got '12 parsecs'");
  const std::string l = write("l.yaml", {"platform:", "  iommus: { name: x }", "run: { duration: 1ms }"});
  EXPECT_EQ(err(l), l + ":2: platform.iommus: expected a list, not a map");
  EXPECT_EQ(err(variant(10, "    - rp0")), f + ":10: platform.root_ports[0]: expected a map, not a scalar");
  EXPECT_EQ(err(variant(1, "seed: -3")), f + ":1: seed: expected a non-negative integer, got '-3'");
  EXPECT_EQ(err(variant(14, "  duration: 0ns")), f + ":14: run.duration: must be greater than 0");
  EXPECT_EQ(err(variant(12, "    - { name: nic0, port: rp0, rid: 0x10000 }")),
            f + ":12: platform.endpoints[nic0].rid: value 0x10000 is out of range (allowed [0x0000, 0xffff])");
  EXPECT_EQ(err(variant(1, "log: { smmu0: loud }")),
            f + ":1: log.smmu0: unknown log level 'loud' (choices: trace, debug, info, warn, error, off)");
  EXPECT_EQ(err(variant(5, "    - name: smmu.0")),
            f + ":5: platform.iommus[smmu.0].name: invalid name 'smmu.0' (letters, digits, '_' and '-', starting with a letter or '_')");
}

TEST_F(ConfigTest, OutOfRangeShowsUnits) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(8, "      walkers: 65")), f + ":8: platform.iommus[smmu0].walkers: value 65 is out of range (allowed [1, 64])");
  EXPECT_EQ(err(variant(3, "  memory: { size: 2TiB }")),
            f + ":3: platform.memory.size: value 2TiB is out of range (allowed [4KiB, 1TiB])");
  EXPECT_EQ(err(variant(7, "      iotlb: { hit_latency: 1.5us }")),
            f + ":7: platform.iommus[smmu0].iotlb.hit_latency: value 1.5us is out of range (allowed [0ns, 1us])");
  EXPECT_EQ(err(variant(8, "      clock: 20GHz")),
            f + ":8: platform.iommus[smmu0].clock: value 20GHz is out of range (allowed [0.1GHz, 10GHz])");
  EXPECT_EQ(err(variant(12, "    - { name: nic0, port: rp0, rid: 1, ats_timeout: 0ns }")),
            f + ":12: platform.endpoints[nic0].ats_timeout: value 0ns is out of range (allowed [1ns, ...])");
}

TEST_F(ConfigTest, UnknownChoiceAndType) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(7, "      iotlb: { policy: mru }")),
            f + ":7: platform.iommus[smmu0].iotlb.policy: unknown value 'mru' (choices: lru, fifo, random)");
  EXPECT_EQ(err(variant(6, "      type: smmuv4")),
            f + ":6: platform.iommus[smmu0].type: unknown iommu type 'smmuv4'; did you mean 'smmuv3'? (iommu types: smmuv3, vtd)");
  EXPECT_EQ(err(variant(6, "      type: pcie_endpoint")),
            f + ":6: platform.iommus[smmu0].type: unknown iommu type 'pcie_endpoint' (it is a endpoint type) (iommu types: smmuv3, vtd)");
  EXPECT_EQ(err(variant(16, "    - { endpoint: nic0, type: zzz }")),
            f + ":16: run.workloads[0].type: unknown workload type 'zzz' (workload types: stream, trace)");
}

TEST_F(ConfigTest, TopologyErrors) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(10, "    - { name: rp0, iommu: smmu9 }")),
            f + ":10: platform.root_ports[rp0].iommu: no iommu named 'smmu9' (iommus: smmu0)");
  EXPECT_EQ(err(variant(12, "    - { name: nic0, port: rp1, rid: 1 }")),
            f + ":12: platform.endpoints[nic0].port: no root port named 'rp1' (root ports: rp0)");
  EXPECT_EQ(err(variant(16, "    - { endpoint: nic1 }")),
            f + ":16: run.workloads[wl0].endpoint: no endpoint named 'nic1' (endpoints: nic0)");
  // Names are module names: unique across all sections.
  EXPECT_EQ(err(variant(13, "    - { name: smmu0, port: rp0, rid: 2 }", true)),
            f + ":13: platform.endpoints[smmu0].name: duplicate name 'smmu0' (also platform.iommus[smmu0] at " + f + ":5)");
  // The absent host section defaults at the `platform` key (line 2).
  EXPECT_EQ(err(variant(3, "  memory: { name: host }")),
            f + ":2: platform.host.name: duplicate name 'host' (also platform.memory at " + f + ":3)");
  EXPECT_EQ(err(variant(13, "    - { name: nic1, port: rp0, rid: 256 }", true)),
            f + ":13: platform.endpoints[nic1].rid: duplicate rid 0x0100 (also used by nic0 at " + f + ":12)");
}

TEST_F(ConfigTest, MissingRequired) {
  const std::string f = (dir_ / "v.yaml").string();
  EXPECT_EQ(err(variant(6, "      walkers: 2")), f + ":5: platform.iommus[smmu0].type: missing required key");
  EXPECT_EQ(err(variant(5, "    - walkers: 2")), f + ":5: platform.iommus[0].name: missing required key");
  EXPECT_EQ(err(variant(10, "    - { name: rp0 }")), f + ":10: platform.root_ports[rp0].iommu: missing required key");
  EXPECT_EQ(err(variant(12, "    - { name: nic0, port: rp0 }")), f + ":12: platform.endpoints[nic0].rid: missing required key");
  EXPECT_EQ(err(variant(16, "    - { size: 1KiB }")), f + ":16: run.workloads[0].endpoint: missing required key");
  EXPECT_EQ(err(variant(14, "  seed2: 1")), f + ":14: run.seed2: unknown key (valid keys: duration, quantum, workloads)");
  const std::string p = write("nodur.yaml", {"seed: 1", "run:", "  workloads: []"});
  EXPECT_EQ(err(p), p + ":2: run.duration: missing required key");
}

TEST_F(ConfigTest, FileErrors) {
  const std::string a = write("a.yaml", {"extends: b.yaml", "seed: 1"});
  const std::string b = write("b.yaml", {"# comment", "extends: a.yaml"});
  EXPECT_EQ(err(a), b + ":2: extends: extends cycle: " + a + " -> " + b + " -> " + a);
  const std::string self = write("self.yaml", {"extends: ./self.yaml"});
  EXPECT_EQ(err(self), self + ":1: extends: extends cycle: " + self + " -> " + self);
  const std::string m = write("m.yaml", {"seed: 1", "extends: missing.yaml"});
  EXPECT_EQ(err(m), m + ":2: extends: cannot read config file '" + (dir_ / "missing.yaml").string() + "' (no such file)");
  const std::string none = (dir_ / "none.yaml").string();
  EXPECT_EQ(err(none), "cannot read config file '" + none + "' (no such file)");
  const std::string syn = write("syn.yaml", {"seed: 1", "platform:", "  iommus: [ { name: a", "run: {}"});
  EXPECT_EQ(err(syn).rfind(syn + ":4: YAML syntax error: ", 0), 0u) << err(syn);
  const std::string dup = write("dup.yaml", {"seed: 1", "run: { duration: 1ms }", "seed: 2"});
  EXPECT_EQ(err(dup), dup + ":3: seed: duplicate key (also set at line 1)");
  const std::string top = write("top.yaml", {"- 1", "- 2"});
  EXPECT_EQ(err(top), top + ":1: the top level of a config must be a map, not a list");
  const std::string dup2 = write("dup2.yaml", {"platform:", "  iommus:", "    - name: s0", "      type: vtd", "      type: smmuv3"});
  EXPECT_EQ(err(dup2), dup2 + ":5: platform.iommus[s0].type: duplicate key (also set at line 4)");
}

TEST_F(ConfigTest, ResolvedRoundTrips) {
  write("base.yaml", kBase);
  const std::string child = write("child.yaml", {"extends: base.yaml", "platform:",
                                                 "  iommus: [ { name: v1, type: vtd, label: \"~\" } ]",
                                                 "log: { default: warn }"});
  const auto c1 = load(child, {"platform.iommus.smmu0.clock=0.3GHz", "platform.memory.latency=1500ps"});
  const std::string r1 = c1.resolved_yaml;
  EXPECT_NE(r1.find("latency: 1500ps"), std::string::npos) << r1;
  EXPECT_NE(r1.find("rid: 0x0100"), std::string::npos) << r1;
  EXPECT_NE(r1.find("hit_latency: 2ns"), std::string::npos) << r1;  // walk_cache default written out
  EXPECT_NE(r1.find("ats_timeout: 1us"), std::string::npos) << r1;
  EXPECT_NE(r1.find("clock: 0.3GHz"), std::string::npos) << r1;
  const std::string again = write("resolved.yaml", {r1});
  const auto c2 = load(again);
  EXPECT_EQ(c2.resolved_yaml, r1);
  EXPECT_DOUBLE_EQ(P_of<IommuP>(c2.iommus[0]).clock, 0.3);
  EXPECT_EQ(P_of<IommuP>(c2.iommus[1]).label, "~");
  EXPECT_EQ(c2.workloads[0].name, "wl0");
  EXPECT_EQ(c2.log_levels, c1.log_levels);
}

TEST_F(ConfigTest, ListPrintsEveryType) {
  std::ostringstream os;
  print_registry(os, test_registry());
  const std::string s = os.str();
  for (const char* want : {"iommu types:", "smmuv3", "vtd", "workload types:", "iotlb:", "entries", "[1, 4096]",
                           "64GiB", "80ns", "real GHz", "lru|fifo|random", "[0.1GHz, 10GHz]", "[1ns, ...]"})
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
}

}  // namespace
}  // namespace iommusim
