// The AMD-Vi driver's interrupt remapping, after Linux amd/iommu.c (irq_remapping_alloc,
// modify_irte): a per-device table of 512 32-bit IRTEs, allocated when the device's first interrupt
// is, linked from its DTE (IV, IntTabLen 9, the table root, IntCtl = remapped) followed by
// INVALIDATE_DEVTAB_ENTRY; each interrupt's IRTE (RemapEn, fixed delivery, physical destination,
// the vector) is written with a cached store and made visible by INVALIDATE_INTERRUPT_TABLE and a
// COMPLETION_WAIT. The device's message is address 0xFEE0_0000 with the IRTE index as data (the
// IOMMU takes the index from data[10:0]). Not modelled: the 128-bit (GA) format, x2APIC, guest
// virtual APIC.
#include "models/host/amdvi_driver.h"

namespace iommusim::host {
using namespace iommusim::amdvi;

int AmdViDriver::irq_remap_alloc(PciDevice& dev, uint32_t apic, uint8_t vector, MsiMsg& out, uint32_t& handle) {
  if (!ir_) return -95;          // EOPNOTSUPP
  if (apic > 0xFF) return -22;   // EINVAL: 8-bit destinations in the 32-bit format
  auto it = devs_.find(dev.rid);
  if (it == devs_.end()) return -19;  // ENODEV: the device was never attached through this IOMMU
  DevState& s = it->second;
  constexpr uint64_t kEntries = uint64_t{1} << kIrteLog2;
  if (!s.irt) {
    s.irt = alloc_.alloc(kEntries * 4, 128);
    mem_.zero(s.irt, kEntries * 4);
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    s.irte_used.assign(kEntries, false);
    write_dte(s);
    submit({cmd_inv_devtab_entry(dev.rid)});
  }
  size_t i = 0;
  while (i < s.irte_used.size() && s.irte_used[i]) ++i;
  if (i == s.irte_used.size()) return -28;  // ENOSPC
  s.irte_used[i] = true;
  Irte e;
  e.remap_en = true;
  e.int_type = irte::FIXED;
  e.destination = apic;
  e.vector = vector;
  const uint32_t raw = encode_irte32(e);
  mem_.write(s.irt + i * 4, &raw, 4);
  cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
  submit({cmd_inv_interrupt_table(dev.rid)});
  out = {0xFEE00000ull, static_cast<uint32_t>(i)};
  handle = static_cast<uint32_t>(i);
  return 0;
}

void AmdViDriver::irq_remap_free(PciDevice& dev, uint32_t handle) {
  auto it = devs_.find(dev.rid);
  if (it == devs_.end() || handle >= it->second.irte_used.size() || !it->second.irte_used[handle]) return;
  const uint32_t zero = 0;
  mem_.write(it->second.irt + uint64_t{handle} * 4, &zero, 4);
  submit({cmd_inv_interrupt_table(dev.rid)});
  it->second.irte_used[handle] = false;
}

}  // namespace iommusim::host
