// Study `iommufd-resv` (seed 002) on the Arm platform with an ITS (configs/base-smmuv3-its.yaml):
// the SMMUv3's software MSI window (R4.1, IOVA 0x8000000 + 1 MiB) against an IOAS's mappings (R6.2,
// R6.5), the window's doorbell page kept across replace (R4.3), and a domain that cannot hold the
// IOAS's mappings refused when the HWPT is allocated (R6.1). Errors are the kernel's codes; the
// interrupts are real MSIs through the SMMU and the ITS.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cerrno>

#include "models/host/iommufd.h"
#include "models/irq/cpu_interrupts.h"
#include "models/pcie/endpoint.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr uint64_t kSwMsi = 0x8000000;  // R4.1

struct Result {
  int overlap_map = 1, overlap_hwpt = 1, overlap_attach = 1;
  int attach = 1, window_map = 1, request = 1, replace = 1;
  uint64_t delivered_h1 = 0, delivered_h2 = 0, lost = 0;
  uint64_t msi_addr = 0;
  int far_map = 1, far_hwpt = 1, later_map = 1;
  size_t far_linked = 99;
  std::string far_why;
};

Result run() {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path("base-smmuv3-its.yaml"), {}, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  auto pf = build_platform(cfg, default_registry());
  Result r;
  Endpoint& ep = *pf->endpoints.at(0);
  CpuInterrupts& intc = *pf->interrupts;
  sc_core::sc_spawn([&] {
    host::LinuxHost& h = *pf->host;
    h.wait_booted();
    host::Iommufd& fd = h.iommufd();
    const uint64_t buf = h.alloc_buffer(1 << 20, 1 << 20);
    uint64_t iova = 0;
    // 1. A mapping that already covers the window: the device cannot be attached (EADDRINUSE).
    uint32_t a = 0, ha = 0;
    fd.ioas_alloc(a);
    iova = kSwMsi + 0x4000;
    r.overlap_map = fd.ioas_map(a, buf, 0x4000, {}, iova, true);
    r.overlap_hwpt = fd.hwpt_alloc(0, a, ha);
    r.overlap_attach = fd.attach(0, ha);
    // 2. Attached first, the window is reserved: a later map cannot take it (EINVAL).
    uint32_t b = 0, h1 = 0, h2 = 0;
    fd.ioas_alloc(b);
    iova = 0x100000;
    fd.ioas_map(b, buf, 0x10000, {}, iova, true);
    fd.hwpt_alloc(0, b, h1);
    fd.hwpt_alloc(0, b, h2);
    r.attach = fd.attach(0, h1);
    iova = kSwMsi;
    r.window_map = fd.ioas_map(b, buf, 0x1000, {}, iova, true);
    // 3. The IRQ on h1 goes through the window; replace to h2 (same IOAS) keeps it working.
    r.request = h.request_irq(0, 0);
    if (auto m = h.irq_message(0, 0)) r.msi_addr = m->addr;
    for (int i = 0; i < 3; ++i) ep.raise_msi(0), sc_core::wait(10, sc_core::SC_US);
    r.delivered_h1 = intc.delivered_from(ep.rid(), 0);
    r.replace = fd.replace(0, h2);
    for (int i = 0; i < 3; ++i) ep.raise_msi(0), sc_core::wait(10, sc_core::SC_US);
    r.delivered_h2 = intc.delivered_from(ep.rid(), 0) - r.delivered_h1;
    r.lost = intc.lost_from(ep.rid(), 0);
    // 4. A mapping beyond the SMMU domain's 48-bit aperture: HWPT allocation refuses the domain and
    // nothing is linked, then or later.
    uint32_t c = 0, hc = 0;
    fd.ioas_alloc(c);
    iova = uint64_t{1} << 50;
    r.far_map = fd.ioas_map(c, buf, 0x1000, {}, iova, true);
    r.far_hwpt = fd.hwpt_alloc(0, c, hc);
    r.far_why = fd.last_error();
    iova = 0x200000;
    r.later_map = fd.ioas_map(c, buf, 0x1000, {}, iova, true);
    r.far_linked = fd.ioas_hwpts(c).size();
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_MS));
  return r;
}

TEST(IommufdResv, Seed002Outcomes) {
  const Result r = run();
  // 1
  EXPECT_EQ(r.overlap_map, 0);
  EXPECT_EQ(r.overlap_hwpt, 0);
  EXPECT_EQ(r.overlap_attach, -EADDRINUSE);
  // 2
  EXPECT_EQ(r.attach, 0);
  EXPECT_EQ(r.window_map, -EINVAL);
  // 3: the vector holds the first window page plus GITS_TRANSLATER's offset in its page (0x040).
  EXPECT_EQ(r.request, 0);
  EXPECT_EQ(r.msi_addr, kSwMsi + 0x040);
  EXPECT_EQ(r.replace, 0);
  EXPECT_EQ(r.delivered_h1, 3u);
  EXPECT_EQ(r.delivered_h2, 3u);
  EXPECT_EQ(r.lost, 0u);
  // 4
  EXPECT_EQ(r.far_map, 0);
  EXPECT_EQ(r.far_hwpt, -EADDRINUSE) << r.far_why;
  EXPECT_EQ(r.later_map, 0);
  EXPECT_EQ(r.far_linked, 0u);
}

}  // namespace
}  // namespace iommusim::test
