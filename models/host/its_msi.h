// The ITS driver as the host's MSI controller (Linux's its_msi_prepare / its_irq_domain_alloc): a
// device's ITT is sized from its MSI-X table on its first interrupt, each vector gets the LPI of
// EventID = vector index, delivered to the ITS's collection 0 (CPU 0).
#pragma once
#include <memory>

#include "models/host/its_driver.h"
#include "models/host/linux_host.h"
#include "models/host/msi_controller.h"

namespace iommusim::host {

struct LinuxHost::ItsMsi final : MsiController {
  std::unique_ptr<ItsDriver> drv;
  int alloc(uint16_t devid, unsigned nvecs, uint16_t index, MsiTarget& out) override {
    const int m = drv->map_device(devid, nvecs);
    if (m && m != -17) return m;  // EEXIST: the device's ITT exists already
    const uint32_t lpi = drv->alloc_lpi(devid, index);
    if (!lpi) return -28;  // ENOSPC
    out = {drv->doorbell_pa(), index, drv->target_cpu(), lpi};
    return 0;
  }
  void free(uint16_t devid, uint16_t index) override { drv->free_lpi(devid, index); }
};

}  // namespace iommusim::host
