// Study `compatibility` (configs/compatibility.yaml): the attach matrix of every device against every
// device's DMA domain, each cell's expected result derived here from R7 and the IOMMUs' parameters.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cerrno>
#include <map>

#include "models/host/vtd_driver.h"
#include "models/iommu/vtd/vtd_params.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

// The table depth a VT-d driver picks for its domains: 4 levels if SAGAW has them, else 3, else 5.
unsigned vtd_aw(uint64_t sagaw) {
  for (unsigned aw : {2u, 1u, 3u})
    if ((sagaw >> aw) & 1) return aw;
  return 0;
}

TEST(Compatibility, AttachMatrixFollowsR7) {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path("compatibility.yaml"), {}, default_registry());
  auto pf = build_platform(cfg, default_registry());
  const size_t n = cfg.endpoints.size();
  std::vector<std::vector<int>> got(n, std::vector<int>(n, 1));
  sc_core::sc_spawn([&] {
    pf->host->wait_booted();
    // Attaching replaces a device's domain; every domain stays alive in its DmaDomain.
    for (unsigned dev = 0; dev < n; ++dev)
      for (unsigned dom = 0; dom < n; ++dom) got[dev][dom] = pf->host->try_attach(dev, pf->host->dma_domain(dom).domain());
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));

  // Expected cells. Endpoint i sits behind IOMMU i (the config lists them in the same order).
  auto type = [&](size_t i) { return cfg.iommus.at(i).type; };
  int accepted = 0, refused = 0;
  for (size_t dev = 0; dev < n; ++dev) {
    for (size_t dom = 0; dom < n; ++dom) {
      int want = -EINVAL;
      if (type(dev) == type(dom)) {
        if (type(dev) == "smmuv3") {
          want = dev == dom ? 0 : -EINVAL;  // R7.3: tied to the instance
        } else if (type(dev) == "vtd") {
          const auto& target = params_as<vtd::VtdParams>(*cfg.iommus.at(dev).params);
          const auto& owner = params_as<vtd::VtdParams>(*cfg.iommus.at(dom).params);
          want = ((target.sagaw >> vtd_aw(owner.sagaw)) & 1) ? 0 : -EINVAL;  // R7.2: address width
        } else {
          want = 0;  // R7.4: AMD domains span AMD IOMMUs
        }
      }
      EXPECT_EQ(got[dev][dom], want) << cfg.endpoints[dev].name << " behind " << cfg.iommus[dev].name
                                     << " attaching the domain of " << cfg.iommus[dom].name;
      (want == 0 ? accepted : refused) += 1;
    }
  }
  // The matrix exercises both outcomes within and across architectures.
  EXPECT_EQ(accepted, 2 /* smmu diagonal */ + 3 /* dmar0<-dmar0, dmar0<-dmar1, dmar1<-dmar1 */ + 4 /* amd */);
  EXPECT_EQ(refused, 36 - accepted);
}


// A domain shared across units of one architecture is invalidated on every unit it is attached
// through: VT-d with the domain ID each unit gave it (R2.2 cache tags, one IOTLB tag per unit), AMD
// with its one host-wide DomainID on each IOMMU (R2.4). The default domain a device left is no longer
// flushed on its unit.
TEST(Compatibility, SharedDomainIsFlushedOnEveryUnitItSpans) {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path("compatibility.yaml"), {}, default_registry());
  auto pf = build_platform(cfg, default_registry());
  auto stat = [&](size_t iommu, const char* path) {
    double v = -1;
    EXPECT_TRUE(pf->iommus.at(iommu)->stats().find(path, v)) << path;
    return v;
  };
  // Indices in compatibility.yaml: dmar0 2, dmar1 3, ivhd0 4, ivhd1 5; endpoint i behind IOMMU i.
  std::map<std::string, double> before, after, left;
  uint16_t did0 = 0, did1 = 0;
  sc_core::sc_spawn([&] {
    auto& h = *pf->host;
    h.wait_booted();
    ASSERT_EQ(h.try_attach(2, h.dma_domain(3).domain()), 0);  // d2 behind dmar0 joins dmar1's domain
    ASSERT_EQ(h.try_attach(4, h.dma_domain(5).domain()), 0);  // d4 behind ivhd0 joins ivhd1's domain
    const auto& vd = dynamic_cast<const host::VtdDomain&>(h.dma_domain(3).domain());
    did0 = vd.did_on(dynamic_cast<const host::VtdDriver*>(&h.driver(2)));
    did1 = vd.did_on(dynamic_cast<const host::VtdDriver*>(&h.driver(3)));
    before = {{"dmar0", stat(2, "inv.iotlb_page")}, {"dmar1", stat(3, "inv.iotlb_page")},
              {"dmar0w", stat(2, "inv.waits")},     {"dmar1w", stat(3, "inv.waits")},
              {"ivhd0", stat(4, "inv.pages")},      {"ivhd1", stat(5, "inv.pages")}};
    const uint64_t buf = h.alloc_buffer(4096);
    h.dma_unmap(3, h.dma_map(3, buf, 4096), 4096);
    h.dma_unmap(5, h.dma_map(5, buf, 4096), 4096);
    after = {{"dmar0", stat(2, "inv.iotlb_page")}, {"dmar1", stat(3, "inv.iotlb_page")},
             {"dmar0w", stat(2, "inv.waits")},     {"dmar1w", stat(3, "inv.waits")},
             {"ivhd0", stat(4, "inv.pages")},      {"ivhd1", stat(5, "inv.pages")}};
    // d2's old default domain has no device left on dmar0: its unmap sends nothing there.
    left["before"] = stat(2, "inv.commands");
    h.dma_unmap(2, h.dma_map(2, buf, 4096), 4096);
    left["after"] = stat(2, "inv.commands");
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));
  ASSERT_FALSE(after.empty());
  // One page: one page-selective invalidation plus one wait on each VT-d unit; one
  // INVALIDATE_IOMMU_PAGES on each AMD IOMMU.
  for (const char* k : {"dmar0", "dmar1", "dmar0w", "dmar1w", "ivhd0", "ivhd1"})
    EXPECT_EQ(after[k] - before[k], 1) << k;
  // dmar0 gave the domain its own ID (its default domain has 1), dmar1 kept the one it allocated.
  EXPECT_EQ(did1, 1);
  EXPECT_EQ(did0, 2);
  EXPECT_EQ(left["after"], left["before"]);
}

}  // namespace
}  // namespace iommusim::test
