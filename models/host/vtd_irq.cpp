// The VT-d driver's interrupt remapping, after Linux intel/irq_remapping.c: one remapping table of
// 2^HostParams::msi.irte_log2 entries (Linux: 65536, 1 MiB) per unit, programmed through IRTA and
// GCMD.SIRTP, a global IEC invalidation, then GCMD.IRE with compatibility-format interrupts blocked
// (CFI clear, as Linux leaves it). Each interrupt gets one IRTE (present, physical destination,
// fixed delivery, edge, the vector and xAPIC destination in DST[15:8], source-id verification of
// the full requester ID: SVT 01b, SQ 00b) written with a cached store and made visible by an
// index-selective IEC invalidation and a wait (modify_irte -> qi_flush_iec). The device's message
// is the remappable format with SHV clear (one vector per handle): address 0xFEEx_xxxx with the
// handle, data 0. Not modelled: x2APIC mode (EIME), posted interrupts, subhandles for multi-vector
// MSI, IRTE sharing between functions (one handle per interrupt here).
#include <stdexcept>

#include "models/host/vtd_driver.h"

namespace iommusim::host {
using namespace iommusim::vtd;

void VtdDriver::enable_irq_remapping() {
  if (!(ecap_ & ecap::IR) || irt_) return;
  const unsigned log2 = static_cast<unsigned>(p_.msi.irte_log2);
  const uint64_t bytes = uint64_t{16} << log2;
  irt_ = alloc_.alloc(bytes, 4096);
  mem_.zero(irt_, bytes);
  // One allocation call; the pages come zeroed (the zeroing itself is not charged).
  cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
  irte_used_.assign(size_t{1} << log2, false);
  mmio_.write64(reg::IRTA, irt_ | irta::S.make(log2 - 1));
  mmio_.write32(reg::GCMD, gcmd_ | gcmd::SIRTP);
  if (!(mmio_.read32(reg::GSTS) & gsts::IRTPS))
    throw std::runtime_error(name_ + ": the unit did not latch the interrupt remapping table pointer");
  IecInv g;  // global
  submit({encode(g)});
  gcmd_ |= gcmd::IRE;
  gcmd_ &= ~gcmd::CFI;
  mmio_.write32(reg::GCMD, gcmd_);
  if (!(mmio_.read32(reg::GSTS) & gsts::IRES)) throw std::runtime_error(name_ + ": interrupt remapping did not enable");
}

int VtdDriver::irq_remap_alloc(PciDevice& dev, uint32_t apic, uint8_t vector, MsiMsg& out, uint32_t& handle) {
  if (!irt_) return -95;  // EOPNOTSUPP: the unit does not remap
  if (apic > 0xFF) return -22;  // EINVAL: xAPIC destinations only
  size_t i = 0;
  while (i < irte_used_.size() && irte_used_[i]) ++i;
  if (i == irte_used_.size()) return -28;  // ENOSPC
  irte_used_[i] = true;
  Irte e;
  e.present = true;
  e.vector = vector;
  e.dst = apic << 8;
  e.svt = svt::SID_SQ;
  e.sq = 0;
  e.sid = dev.rid;
  uint64_t raw[2];
  encode(e, raw);
  mem_.write(irt_ + i * 16, raw, sizeof raw);
  cpu_.spend(to_sc(p_.cost.pte_write) * 2.0, Cpu::Cat::Other);
  IecInv inv;
  inv.index_selective = true;
  inv.iidx = static_cast<uint16_t>(i);
  submit({encode(inv)});
  RemapMsi m;
  m.handle = static_cast<uint16_t>(i);
  const MsiMessage msg = encode(m);
  out = {msg.addr, msg.data};
  handle = static_cast<uint32_t>(i);
  return 0;
}

void VtdDriver::irq_remap_free(PciDevice& /*dev*/, uint32_t handle) {
  if (!irt_ || handle >= irte_used_.size() || !irte_used_[handle]) return;
  const uint64_t zero[2] = {0, 0};
  mem_.write(irt_ + uint64_t{handle} * 16, zero, sizeof zero);
  IecInv inv;
  inv.index_selective = true;
  inv.iidx = static_cast<uint16_t>(handle);
  submit({encode(inv)});
  irte_used_[handle] = false;
}

}  // namespace iommusim::host
