// The irqchip side of MSI allocation as the kernel's MSI layer sees it (Linux's MSI parent domain:
// the GIC ITS driver on Arm). The host asks it for one interrupt per device vector; it answers with
// the doorbell the device must write (a physical address: the IOMMU layer maps it for the device),
// the data, and the CPU interrupt that will arrive.
#pragma once
#include <cstdint>

namespace iommusim::host {

struct MsiTarget {
  uint64_t doorbell_pa = 0;  // where the device writes (before IOMMU mapping)
  uint32_t data = 0;         // what it writes (the ITS EventID)
  uint32_t cpu = 0;          // the CPU the interrupt is routed to
  uint32_t intid = 0;        // the interrupt the CPU sees (GIC LPI INTID)
};

class MsiController {
 public:
  virtual ~MsiController() = default;
  // The device's MSI-X table size is `nvecs` (the ITS sizes the device's ITT from it). Thread context.
  // 0 or a negative errno.
  virtual int alloc(uint16_t devid, unsigned nvecs, uint16_t index, MsiTarget& out) = 0;
  virtual void free(uint16_t devid, uint16_t index) = 0;
};

}  // namespace iommusim::host
