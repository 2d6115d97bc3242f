// Unit tests of the architecture-free SVA core (host::Sva, R1) and I/O page-fault core (host::Iopf,
// R3) against fake drivers that record what the cores ask of them. Expected calls, PASIDs and times
// follow from the rules in linux-host-behaviour.md, not from the code under test.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>
#include <systemc>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/iopf.h"
#include "models/host/mm.h"
#include "models/host/sva.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using host::IoPageFault;
using host::Mm;
using host::PageResponse;
using host::PciDevice;
using host::SvaDomain;

// Byte-addressed sparse memory without a SystemC module (nothing here issues transactions).
class MapMem final : public host::PhysMem {
 public:
  void read(uint64_t pa, void* dst, size_t len) override {
    auto* d = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < len; ++i) {
      const auto it = bytes_.find(pa + i);
      d[i] = it == bytes_.end() ? 0 : it->second;
    }
  }
  void write(uint64_t pa, const void* src, size_t len) override {
    const auto* s = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < len; ++i) bytes_[pa + i] = s[i];
  }

 private:
  std::map<uint64_t, uint8_t> bytes_;
};

class FakeDriver;

struct Inval {
  const SvaDomain* dom;
  uint64_t start, end;
};

class FakeDomain final : public SvaDomain {
 public:
  FakeDomain(Mm& mm, FakeDriver& owner, std::vector<Inval>& log) : SvaDomain(mm), owner_(owner), log_(log) {}
  const host::IommuDriver& owner() const override;
  void invalidate(uint64_t s, uint64_t e) override { log_.push_back({this, s, e}); }
  FakeDriver& drv() { return owner_; }
  using SvaDomain::add_attachment;
  using SvaDomain::remove_attachment;

 private:
  FakeDriver& owner_;
  std::vector<Inval>& log_;
};

// kind: drivers of the same kind accept each other's domains unless instance_bound (SMMUv3, R1.6).
class FakeDriver final : public host::IommuDriver {
 public:
  FakeDriver(std::string name, int kind, bool instance_bound, uint32_t max_pasids, std::vector<Inval>& log)
      : name_(std::move(name)), kind_(kind), bound_(instance_bound), max_(max_pasids), log_(log) {}
  const std::string& name() const override { return name_; }
  int check_attach(const host::IommuDomain&, std::string&) const override { return 0; }
  void probe() override {}
  std::unique_ptr<host::IommuDomain> alloc_paging_domain() override { return nullptr; }
  void attach(host::IommuDomain&, PciDevice&) override {}
  uint32_t max_pasids() const override { return max_; }
  std::unique_ptr<SvaDomain> alloc_sva_domain(Mm& mm, std::string&) override {
    ++allocs;
    return std::make_unique<FakeDomain>(mm, *this, log_);
  }
  int set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) override {
    auto& fd = static_cast<FakeDomain&>(d);
    if (fd.drv().kind_ != kind_ || (bound_ && &fd.drv() != this)) {
      why = "incompatible";
      return 22;
    }
    ++sets;
    fd.add_attachment(dev, pasid);
    return 0;
  }
  void remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) override {
    ++removes;
    static_cast<FakeDomain&>(d).remove_attachment(dev, pasid);
  }
  void page_response(const IoPageFault& f, PageResponse c) override {
    responses.push_back({f, c, sc_core::sc_time_stamp()});
  }
  void report(const IoPageFault& f) { iopf_->report(*this, f); }

  struct Resp {
    IoPageFault f;
    PageResponse code;
    sc_core::sc_time at;
  };
  int allocs = 0, sets = 0, removes = 0;
  std::vector<Resp> responses;

 private:
  std::string name_;
  int kind_;
  bool bound_;
  uint32_t max_;
  std::vector<Inval>& log_;
};

const host::IommuDriver& FakeDomain::owner() const { return owner_; }

PciDevice device(const char* name, uint16_t rid, unsigned pasid_bits = 20) {
  PciDevice d;
  d.name = name;
  d.rid = rid;
  d.pasid_bits = pasid_bits;
  return d;
}

class SvaCoreTest : public test::SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    pm = std::make_unique<MapMem>();
    alloc = std::make_unique<host::PhysAlloc>(0x100000, uint64_t{1} << 30);
    stats = std::make_unique<StatGroup>("host");
    cpu = std::make_unique<host::Cpu>(*stats);
  }
  void make(host::SvaSharing s) {
    params.sharing = s;
    sva = std::make_unique<host::Sva>(*cpu, params, *stats);
    iopf = std::make_unique<host::Iopf>(*cpu, params, *sva, *stats);
  }
  // Owned by the fixture, declared before the cores: the SVA core unhooks its notifiers at destruction.
  Mm* new_mm() {
    mms.push_back(std::make_unique<Mm>(*pm, *alloc, Mm::Format::X86_4, 1, cpu.get(), costs));
    return mms.back().get();
  }
  FakeDriver& driver(const char* n, int kind, bool bound, uint32_t max = 1u << 20) {
    drivers.push_back(std::make_unique<FakeDriver>(n, kind, bound, max, invals));
    drivers.back()->set_iopf_sink(iopf.get());
    return *drivers.back();
  }
  // Runs body in a SystemC thread (the cores charge CPU time).
  void run(std::function<void()> body) {
    sc_core::sc_spawn([body] { body(); });
    sc_core::sc_start();
  }

  std::unique_ptr<MapMem> pm;
  std::unique_ptr<host::PhysAlloc> alloc;
  std::unique_ptr<StatGroup> stats;
  std::unique_ptr<host::Cpu> cpu;
  host::SvaParams params;
  host::CpuCosts costs;
  std::vector<std::unique_ptr<Mm>> mms;
  std::unique_ptr<host::Sva> sva;
  std::unique_ptr<host::Iopf> iopf;
  std::vector<std::unique_ptr<FakeDriver>> drivers;
  std::vector<Inval> invals;
};

// Seed 004: K devices behind M IOMMUs bound to one mm. The number of SVA domains, hence of
// independent invalidations per munmap, is what the policy decides.
TEST_F(SvaCoreTest, PerMmSharesOneDomainAcrossIommusOfADriverThatAllowsIt) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  auto& b = driver("vtd1", 1, false);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18), d2 = device("d2", 0x20);
  auto mm = new_mm();
  run([&] {
    uint32_t p0 = 0, p1 = 0, p2 = 0;
    EXPECT_EQ(sva->bind(d0, a, *mm, p0), 0);
    EXPECT_EQ(sva->bind(d1, a, *mm, p1), 0);
    EXPECT_EQ(sva->bind(d2, b, *mm, p2), 0);
    EXPECT_EQ(p0, 1u);  // the first global PASID
    EXPECT_EQ(p1, 1u);
    EXPECT_EQ(p2, 1u);
    EXPECT_EQ(a.allocs + b.allocs, 1);
    ASSERT_EQ(sva->domains_of(*mm).size(), 1u);
    EXPECT_EQ(sva->domains_of(*mm)[0]->attachments().size(), 3u);
    const auto r = mm->mmap(8 * 4096, {});
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(mm->touch(r.addr, 8 * 4096, true).ok());
    mm->munmap(r.addr, 3 * 4096);
    ASSERT_EQ(invals.size(), 1u);  // one domain, one notifier
    EXPECT_EQ(invals[0].start, r.addr);
    EXPECT_EQ(invals[0].end, r.addr + 3 * 4096);
  });
}

TEST_F(SvaCoreTest, PerMmInstanceBoundDriverGetsOneDomainPerInstanceWithTheSamePasid) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("smmu0", 2, true);
  auto& b = driver("smmu1", 2, true);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18), d2 = device("d2", 0x20);
  auto mm = new_mm();
  run([&] {
    uint32_t p[3] = {};
    EXPECT_EQ(sva->bind(d0, a, *mm, p[0]), 0);
    EXPECT_EQ(sva->bind(d1, b, *mm, p[1]), 0);
    EXPECT_EQ(sva->bind(d2, a, *mm, p[2]), 0);  // tries b's domain first (list head), then a's
    EXPECT_EQ(p[0], p[1]);
    EXPECT_EQ(p[1], p[2]);
    EXPECT_EQ(a.allocs, 1);
    EXPECT_EQ(b.allocs, 1);
    const auto doms = sva->domains_of(*mm);
    ASSERT_EQ(doms.size(), 2u);
    EXPECT_EQ(&doms[0]->owner(), &b);  // newest first
    const auto r = mm->mmap(4096, {}, true);
    mm->munmap(r.addr, 4096);
    EXPECT_EQ(invals.size(), 2u);  // every domain independently (R2.1)
  });
  double refused = 0;
  ASSERT_TRUE(stats->find("sva.attach_refused", refused));
  EXPECT_EQ(refused, 2);  // d1 refused a's domain; d2 refused b's
}

TEST_F(SvaCoreTest, CrossDriverDeviceGetsASecondDomainWithTheSamePasid) {
  make(host::SvaSharing::PerMm);
  auto& vtd = driver("vtd0", 1, false);
  auto& amd = driver("amd0", 3, false);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18);
  auto mm = new_mm();
  run([&] {
    uint32_t p0 = 0, p1 = 0;
    EXPECT_EQ(sva->bind(d0, vtd, *mm, p0), 0);
    EXPECT_EQ(sva->bind(d1, amd, *mm, p1), 0);
    EXPECT_EQ(p0, p1);
    EXPECT_EQ(sva->domains_of(*mm).size(), 2u);
    EXPECT_NE(sva->domain_of(d0, *mm), sva->domain_of(d1, *mm));
  });
}

TEST_F(SvaCoreTest, PerDeviceAllocatesOneDomainPerBind) {
  make(host::SvaSharing::PerDevice);
  auto& a = driver("vtd0", 1, false);
  std::vector<PciDevice> devs;
  for (uint16_t i = 0; i < 4; ++i) devs.push_back(device("d", static_cast<uint16_t>(0x10 + i)));
  auto mm = new_mm();
  run([&] {
    for (auto& d : devs) {
      uint32_t p = 0;
      EXPECT_EQ(sva->bind(d, a, *mm, p), 0);
      EXPECT_EQ(p, 1u);
    }
    EXPECT_EQ(a.allocs, 4);
    const auto r = mm->mmap(4096, {}, true);
    mm->munmap(r.addr, 4096);
    EXPECT_EQ(invals.size(), 4u);
  });
}

TEST_F(SvaCoreTest, PasidsAreGlobalStayWithTheMmAndRespectDeviceLimits) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false, 1u << 20);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18);
  PciDevice narrow = device("narrow", 0x20, 1);  // 2 PASIDs: only PASID 1 usable
  PciDevice none = device("none", 0x28, 0);
  auto mm1 = new_mm(), mm2 = new_mm();
  run([&] {
    uint32_t p = 0;
    EXPECT_EQ(sva->bind(d0, a, *mm1, p), 0);
    EXPECT_EQ(p, 1u);
    EXPECT_EQ(sva->bind(d1, a, *mm2, p), 0);
    EXPECT_EQ(p, 2u);
    EXPECT_EQ(sva->bind(narrow, a, *mm2, p), -75);  // EOVERFLOW: mm2's PASID 2 >= 2
    EXPECT_EQ(sva->bind(none, a, *mm1, p), -95);    // EOPNOTSUPP
    EXPECT_EQ(sva->unbind(d0, *mm1), 0);
    EXPECT_EQ(sva->pasid_of(*mm1), 1u);  // kept after the last unbind (R1.2)
    EXPECT_EQ(sva->bind(d0, a, *mm1, p), 0);
    EXPECT_EQ(p, 1u);
    EXPECT_EQ(sva->unbind(narrow, *mm1), -2);  // ENOENT
  });
}

TEST_F(SvaCoreTest, PasidSpaceExhaustedIsEnospc) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("small", 1, false, 4);  // PASIDs 1..3
  std::vector<PciDevice> devs;
  std::vector<Mm*> spaces;
  for (uint16_t i = 0; i < 4; ++i) {
    devs.push_back(device("d", static_cast<uint16_t>(0x10 + i)));
    spaces.push_back(new_mm());
  }
  run([&] {
    uint32_t p = 0;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(sva->bind(devs[i], a, *spaces[i], p), 0);
    EXPECT_EQ(p, 3u);
    EXPECT_EQ(sva->bind(devs[3], a, *spaces[3], p), -28);
  });
}

TEST_F(SvaCoreTest, ReferencesAndTeardown) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18);
  auto mm = new_mm();
  run([&] {
    uint32_t p = 0;
    EXPECT_EQ(sva->bind(d0, a, *mm, p), 0);
    EXPECT_EQ(sva->bind(d0, a, *mm, p), 0);  // R1.3 (a): a reference, no second attach
    EXPECT_EQ(sva->bind(d1, a, *mm, p), 0);
    EXPECT_EQ(a.sets, 2);
    EXPECT_EQ(sva->unbind(d0, *mm), 0);
    EXPECT_EQ(a.removes, 0);
    EXPECT_EQ(sva->unbind(d0, *mm), 0);
    EXPECT_EQ(a.removes, 1);
    EXPECT_EQ(sva->domains_of(*mm).size(), 1u);  // d1 still uses it
    EXPECT_EQ(sva->unbind(d1, *mm), 0);
    EXPECT_EQ(sva->domains_of(*mm).size(), 0u);
    const auto r = mm->mmap(4096, {}, true);
    mm->munmap(r.addr, 4096);
    EXPECT_TRUE(invals.empty());  // the freed domain's notifier is gone
  });
}

TEST_F(SvaCoreTest, ExitReleasesEachDomainWithAWholeAddressSpaceInvalidation) {
  make(host::SvaSharing::PerDevice);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10), d1 = device("d1", 0x18);
  auto mm = new_mm();
  run([&] {
    uint32_t p = 0;
    sva->bind(d0, a, *mm, p);
    sva->bind(d1, a, *mm, p);
    mm->mmap(4096, {}, true);
    mm->exit();
    ASSERT_EQ(invals.size(), 2u);
    for (const auto& i : invals) {
      EXPECT_EQ(i.start, 0u);
      EXPECT_EQ(i.end, Mm::kWholeMm);
    }
  });
}

// ---- I/O page faults (R3) ----

IoPageFault pr(uint16_t rid, uint32_t pasid, uint64_t addr, uint16_t grp, bool last, bool write = false) {
  IoPageFault f;
  f.rid = rid;
  f.pasid_valid = true;
  f.pasid = pasid;
  f.addr = addr;
  f.read = true;
  f.write = write;
  f.grpid = grp;
  f.last = last;
  return f;
}

TEST_F(SvaCoreTest, IopfGroupsAreAnsweredOnceAfterTheirCost) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10);
  auto mm = new_mm();
  uint64_t va = 0;
  sc_core::sc_time t0;
  run([&] {
    uint32_t p = 0;
    ASSERT_EQ(sva->bind(d0, a, *mm, p), 0);
    va = mm->mmap(4 * 4096, {}).addr;
    t0 = sc_core::sc_time_stamp();
    a.report(pr(0x10, p, va, 5, false));
    a.report(pr(0x10, p, va + 4096, 5, false, true));
    EXPECT_TRUE(a.responses.empty());  // partials wait for Last
    a.report(pr(0x10, p, va + 2 * 4096, 5, true));
  });
  ASSERT_EQ(a.responses.size(), 1u);
  EXPECT_EQ(a.responses[0].code, PageResponse::Success);
  EXPECT_EQ(a.responses[0].f.grpid, 5);
  EXPECT_TRUE(a.responses[0].f.last);
  // Group cost, then three faults that each map a new page (R3.4, mm fault cost); the first also
  // allocates the PDPT, PD and PT under the empty root (the pages share one 2 MiB-aligned PT).
  ASSERT_EQ(va >> 21, (va + 3 * 4096) >> 21);
  const sc_core::sc_time expect =
      t0 + to_sc(params.iopf_group) + 3 * to_sc(costs.mm.fault) + 3 * to_sc(costs.table_alloc);
  EXPECT_EQ(a.responses[0].at, expect);
  EXPECT_TRUE(mm->translate(va).has_value());
  EXPECT_TRUE(mm->translate(va + 4096)->write);
  EXPECT_TRUE(mm->translate(va + 2 * 4096).has_value());
  EXPECT_FALSE(mm->translate(va + 3 * 4096).has_value());
}

TEST_F(SvaCoreTest, IopfFirstErrorIsStickyAndUnknownPasidIsInvalidAtOnce) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10);
  auto mm = new_mm();
  uint64_t va = 0;
  sc_core::sc_time t_unknown;
  run([&] {
    uint32_t p = 0;
    ASSERT_EQ(sva->bind(d0, a, *mm, p), 0);
    va = mm->mmap(4096, {true, false, false}).addr;  // read-only VMA
    a.report(pr(0x10, p, va, 1, false, true));         // write to a read-only VMA: refused
    a.report(pr(0x10, p, va, 1, true));                // a fine read, after the sticky error
    t_unknown = sc_core::sc_time_stamp();
    a.report(pr(0x10, p + 7, va, 2, true));  // no bond at this PASID
  });
  ASSERT_EQ(a.responses.size(), 2u);
  EXPECT_EQ(a.responses[0].code, PageResponse::Invalid);  // answered at once, before the queued group
  EXPECT_EQ(a.responses[0].f.grpid, 2);
  EXPECT_EQ(a.responses[0].at, t_unknown);
  EXPECT_EQ(a.responses[1].code, PageResponse::Invalid);
  EXPECT_EQ(a.responses[1].f.grpid, 1);
  EXPECT_FALSE(mm->translate(va).has_value());  // the read after the error was not handled
  EXPECT_EQ(iopf->responses(PageResponse::Invalid), 2u);
}

// After an overflow the requests of a held partial group were lost: the partial is discarded, so the
// later request with Last forms a group of its own (only its page is faulted in).
TEST_F(SvaCoreTest, IopfPartialsAreDiscardedAfterAnOverflow) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10);
  auto mm = new_mm();
  uint64_t va = 0;
  run([&] {
    uint32_t p = 0;
    ASSERT_EQ(sva->bind(d0, a, *mm, p), 0);
    va = mm->mmap(2 * 4096, {}).addr;
    a.report(pr(0x10, p, va, 9, false));
    iopf->discard_partial(a);
    a.report(pr(0x10, p, va + 4096, 9, true));
  });
  ASSERT_EQ(a.responses.size(), 1u);
  EXPECT_EQ(a.responses[0].code, PageResponse::Success);
  EXPECT_FALSE(mm->translate(va).has_value());
  EXPECT_TRUE(mm->translate(va + 4096).has_value());
}

// A request asking for no access is still answered by the VMA: Invalid where there is none.
TEST_F(SvaCoreTest, IopfNoAccessRequestNeedsAVma) {
  make(host::SvaSharing::PerMm);
  auto& a = driver("vtd0", 1, false);
  PciDevice d0 = device("d0", 0x10);
  auto mm = new_mm();
  run([&] {
    uint32_t p = 0;
    ASSERT_EQ(sva->bind(d0, a, *mm, p), 0);
    IoPageFault f = pr(0x10, p, 0x1000'0000, 4, true);  // nothing mapped there
    f.read = false;
    a.report(f);
  });
  ASSERT_EQ(a.responses.size(), 1u);
  EXPECT_EQ(a.responses[0].code, PageResponse::Invalid);
}

}  // namespace
}  // namespace iommusim
