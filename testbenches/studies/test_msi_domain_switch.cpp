// Study `msi-domain-switch` (seed 001): a device requests its IRQ on its default DMA domain, is then
// attached to a new unmanaged domain and raises interrupts. On x86 the interrupt write is an
// interrupt request that bypasses translation (R4.4), so every interrupt is delivered whatever the
// domain; on Arm it is a DMA write to the ITS doorbell through the SMMU (R4.2), so the outcome is
// the host's policy (R4.3): linux loses them (the new domain has no doorbell mapping), shared_tables
// and iommufd_sw_msi deliver them, ordered refuses the late attach.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cerrno>
#include <functional>

#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/vtd/vtd.h"
#include "models/irq/cpu_interrupts.h"
#include "models/pcie/endpoint.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr unsigned kBefore = 2, kAfter = 5;  // interrupts raised before and after the switch

struct Outcome {
  int request = 1, attach = 1;
  uint64_t delivered_before = 0, delivered = 0, lost = 0, handled = 0, sent = 0;
  double first_latency_ns = 0, second_latency_ns = 0;
  double remapped = -1;  // VT-d: interrupt requests remapped through an IRTE
  double events = 0;     // SMMUv3: event records written while the MSIs were raised after the switch
  double events_total = 0;
  uint64_t all_delivered = 0;  // every interrupt the CPUs took (the SMMU's own event-queue LPIs too)
  double third_latency_ns = 0, walk_reads_third = 0;  // Arm: after the doorbell's IOTLB entry was flushed
};

// Boots `config`, requests vector 0 of endpoint 0, raises kBefore interrupts, attaches a new
// unmanaged domain, raises kAfter more.
Outcome run_switch(const std::string& config, const std::vector<std::string>& sets = {}) {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path(config), sets, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  auto pf = build_platform(cfg, default_registry());
  Outcome o;
  Endpoint& ep = *pf->endpoints.at(0);
  CpuInterrupts& intc = *pf->interrupts;
  sc_core::sc_spawn([&] {
    host::LinuxHost& h = *pf->host;
    h.wait_booted();
    o.request = h.request_irq(0, 0);
    for (unsigned i = 0; i < kBefore; ++i) {
      ep.raise_msi(0);
      sc_core::wait(10, sc_core::SC_US);
      if (i == 0) o.first_latency_ns = intc.latency().max();
      if (i == 1) o.second_latency_ns = intc.latency().min();
    }
    if (!pf->smmus.empty()) {
      // Once more with the doorbell page's IOTLB entry (and walk caches) invalidated: the same
      // interrupt plus one page walk.
      h.dma_domain(0).domain().flush_all();
      double r0 = 0, r1 = 0;
      pf->smmus[0]->stats().find("walk.reads", r0);
      const uint64_t n = intc.latency().count();
      const double sum0 = intc.latency().mean() * static_cast<double>(n);
      ep.raise_msi(0);
      sc_core::wait(10, sc_core::SC_US);
      pf->smmus[0]->stats().find("walk.reads", r1);
      o.walk_reads_third = r1 - r0;
      if (intc.latency().count() == n + 1)
        o.third_latency_ns = intc.latency().mean() * static_cast<double>(n + 1) - sum0;
    }
    o.delivered_before = intc.delivered_from(ep.rid(), 0);
    double ev0 = 0;
    if (!pf->smmus.empty()) pf->smmus[0]->stats().find("events.recorded", ev0);
    host::IommuDomain& d = h.alloc_unmanaged_domain(0, false);
    o.attach = h.attach_domain(0, d);
    for (unsigned i = 0; i < kAfter; ++i) {
      ep.raise_msi(0);
      sc_core::wait(10, sc_core::SC_US);
    }
    o.delivered = intc.delivered_from(ep.rid(), 0);
    o.lost = intc.lost_from(ep.rid(), 0);
    o.handled = h.irq_handled(0, 0);
    o.sent = ep.msi_sent();
    o.all_delivered = intc.delivered();
    if (!pf->vtds.empty()) pf->vtds[0]->stats().find("ir.remapped", o.remapped);
    if (!pf->amdvis.empty()) pf->amdvis[0]->stats().find("interrupts_remapped", o.remapped);
    if (!pf->smmus.empty()) {
      pf->smmus[0]->stats().find("events.recorded", o.events);
      o.events_total = o.events;
      o.events -= ev0;
    }
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_MS));
  return o;
}

TEST(MsiDomainSwitch, X86RemappingDeliversEveryInterruptAcrossTheSwitch) {
  for (const char* cfg : {"base-vtd.yaml", "base-amdvi.yaml"}) {
    SCOPED_TRACE(cfg);
    const Outcome o = run_switch(cfg);
    EXPECT_EQ(o.request, 0);
    EXPECT_EQ(o.attach, 0);
    EXPECT_EQ(o.delivered_before, kBefore);
    EXPECT_EQ(o.delivered, kBefore + kAfter);
    EXPECT_EQ(o.lost, 0u);
    EXPECT_EQ(o.handled, kBefore + kAfter);
    EXPECT_EQ(o.sent, kBefore + kAfter);  // scoreboard: every MSI delivered or lost
    EXPECT_EQ(o.remapped, kBefore + kAfter);  // each through an IRTE
  }
}

TEST(MsiDomainSwitch, VtdFirstInterruptPaysTheIrteFetch) {
  // The first interrupt misses the interrupt entry cache and reads its 16-byte IRTE from memory
  // (latency 90 ns plus 16 B at 25.6 GB/s); the second hits. Everything else is the same path.
  const Outcome o = run_switch("base-vtd.yaml");
  const double fetch_ns = 90.0 + 16.0 / 25.6;
  EXPECT_NEAR(o.first_latency_ns - o.second_latency_ns, fetch_ns, 1.0);
}

// Arm: the MSI is a write to the doorbell IOVA that the SMMU translates with the RID's domain.
struct ArmCase {
  const char* policy;
  int attach;               // the late attach's result
  unsigned delivered_after;  // of kAfter raised after it
};

class MsiDomainSwitchArm : public ::testing::TestWithParam<ArmCase> {};

TEST_P(MsiDomainSwitchArm, OutcomeFollowsThePolicy) {
  const ArmCase c = GetParam();
  const Outcome o = run_switch("base-smmuv3-its.yaml", {std::string("platform.host.msi.policy=") + c.policy});
  EXPECT_EQ(o.request, 0);
  EXPECT_EQ(o.attach, c.attach);
  EXPECT_EQ(o.delivered_before, kBefore + 1);  // with the one after the IOTLB flush
  const unsigned lost_after = kAfter - c.delivered_after;
  EXPECT_EQ(o.delivered, kBefore + 1 + c.delivered_after);
  EXPECT_EQ(o.lost, lost_after);
  EXPECT_EQ(o.events, lost_after);  // each lost MSI left its translation fault in the event queue
  EXPECT_EQ(o.handled, kBefore + 1 + c.delivered_after);
  EXPECT_EQ(o.sent, o.delivered + o.lost);  // scoreboard: every MSI delivered or counted as lost
  // The SMMU's event queue interrupt is an MSI through the same ITS: one LPI per event record.
  EXPECT_EQ(o.all_delivered, o.delivered + static_cast<uint64_t>(o.events_total));
}

INSTANTIATE_TEST_SUITE_P(Policies, MsiDomainSwitchArm,
                         ::testing::Values(ArmCase{"linux", 0, 0}, ArmCase{"shared_tables", 0, kAfter},
                                           ArmCase{"iommufd_sw_msi", 0, kAfter}, ArmCase{"ordered", -EBUSY, kAfter}),
                         [](const auto& i) { return std::string(i.param.policy); });

TEST(MsiDomainSwitch, ArmDoorbellIotlbMissAddsOnePageWalk) {
  // After the domain's IOTLB and walk caches are invalidated, the doorbell write walks the four
  // levels again; every table read costs the SMMU's walk_read_latency plus the memory latency and
  // 8 B at 25.6 GB/s, the rest of the path (link, ITS with warm caches, delivery) is that of the
  // second interrupt.
  const Outcome o = run_switch("base-smmuv3-its.yaml");
  const PlatformConfig cfg = load_config(config_path("base-smmuv3-its.yaml"), {}, default_registry());
  const double per_read = params_as<smmuv3::SmmuV3Params>(*cfg.iommus.at(0).params).core.walk_read_latency.as_ns() +
                          90.0 + 8.0 / 25.6;
  EXPECT_EQ(o.walk_reads_third, 4);
  EXPECT_NEAR(o.third_latency_ns - o.second_latency_ns, o.walk_reads_third * per_read, 1.0);
  EXPECT_GT(o.first_latency_ns, o.third_latency_ns);  // the first also filled the STE/CD and ITS caches
}

}  // namespace
}  // namespace iommusim::test

namespace iommusim::test {
namespace {

// R4.2 at request time on Arm: an unmanaged domain without an MSI cookie cannot take the doorbell
// (EOPNOTSUPP); with one (VFIO's iommu_get_msi_cookie) the doorbell goes to the first page of the
// SW_MSI window and the interrupt is delivered.
TEST(MsiDomainSwitch, ArmUnmanagedDomainNeedsAnMsiCookie) {
  for (const bool cookie : {false, true}) {
    SCOPED_TRACE(cookie ? "with cookie" : "without cookie");
    fresh_context();
    const PlatformConfig cfg = load_config(config_path("base-smmuv3-its.yaml"), {}, default_registry());
    tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
    auto pf = build_platform(cfg, default_registry());
    int attach = 1, request = 1;
    uint64_t addr = 0, delivered = 0;
    sc_core::sc_spawn([&] {
      host::LinuxHost& h = *pf->host;
      h.wait_booted();
      attach = h.attach_domain(0, h.alloc_unmanaged_domain(0, cookie));
      request = h.request_irq(0, 0);
      if (auto m = h.irq_message(0, 0)) addr = m->addr;
      pf->endpoints[0]->raise_msi(0);
      sc_core::wait(10, sc_core::SC_US);
      delivered = pf->interrupts->delivered();
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_MS));
    EXPECT_EQ(attach, 0);
    EXPECT_EQ(request, cookie ? 0 : -EOPNOTSUPP);
    EXPECT_EQ(addr, cookie ? 0x8000000u + 0x040u : 0u);  // GITS_TRANSLATER is at 0x040 of its page
    EXPECT_EQ(delivered, cookie ? 1u : 0u);
  }
}

}  // namespace
}  // namespace iommusim::test
