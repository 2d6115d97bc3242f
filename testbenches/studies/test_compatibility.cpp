// Study `compatibility` (configs/compatibility.yaml): the attach matrix of every device against every
// device's DMA domain, each cell's expected result derived here from R7 and the IOMMUs' parameters.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cerrno>

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

}  // namespace
}  // namespace iommusim::test
