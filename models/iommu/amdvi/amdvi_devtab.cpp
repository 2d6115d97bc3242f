// AMD-Vi device table and GCR3 table: fetch, decode, checks and caching.
#include "models/iommu/amdvi/amdvi.h"

namespace iommusim::amdvi {

const DevConfig* AmdVi::dev_lookup(uint16_t devid, sc_core::sc_time& t, Event& ev) {
  ++dev_lookups_;
  auto same = [&](const DevConfig& c) { return c.devid == devid; };
  if (const DevConfig* c = dev_cache_.find(devid, same)) return last_dev_ = c;
  ++dev_misses_;
  ev = Event{};
  ev.device_id = devid;
  const unsigned size = static_cast<unsigned>(devtab::SIZE.get(devtab_base_));
  const uint64_t dte_pa = (devtab_base_ & devtab::BASE_MASK) + uint64_t{devid} * devtab::ENTRY_BYTES;
  if (devid >= devtab::entries(size)) {  // beyond the programmed table
    ev.code = evt::ILLEGAL_DEV_TABLE_ENTRY;
    ev.rz = true;
    return nullptr;
  }
  uint64_t raw[DTE_QWORDS];
  if (!mem_access(false, dte_pa, raw, sizeof raw, t)) {
    ev.code = evt::DEV_TAB_HARDWARE_ERROR;
    ev.type = evt::HWERR_MASTER_ABORT;
    ev.addr = dte_pa;
    return nullptr;
  }
  DevConfig c;
  c.devid = devid;
  c.dte = decode_dte(raw);
  const Dte& d = c.dte;
  bool legal = dte_legal(d);
  if (d.v && d.tv) {
    if (d.mode > p_.host_levels && d.mode != 7) legal = false;  // deeper than EFR.HATS allows
    if (d.gv && (!p_.gt_sup || (d.gpm == dte::GPM_5LEVEL ? 5u : 4u) > p_.guest_levels || d.gpm > dte::GPM_5LEVEL))
      legal = false;
  }
  if (!legal) {
    ev.code = evt::ILLEGAL_DEV_TABLE_ENTRY;
    ev.rz = true;
    return nullptr;
  }
  if (d.v && d.tv && pgtable::amdv1::mode_valid(d.mode)) c.v1 = AmdV1Format(d.mode, p_.page_sizes);
  if (d.v && d.tv && d.gv) c.v2 = AmdV2Format(d.gpm == dte::GPM_5LEVEL ? 5 : 4);
  // Both a guest and a host table: with guest_nested, the guest level's addresses are GPAs.
  c.nested = p_.guest_nested && d.v && d.tv && d.gv && d.mode != dte::MODE_NONE && pgtable::amdv1::mode_valid(d.mode);
  if (c.nested) nested_doms_[d.domain_id] = true;
  last_dev_ = nullptr;  // the insert may evict the remembered entry
  if (const DevConfig* stored = dev_cache_.insert(devid, c, same)) return last_dev_ = stored;
  // Device table cache disabled: one decoded copy for this transaction.
  static thread_local DevConfig scratch;
  scratch = c;
  return &scratch;
}

const GuestConfig* AmdVi::guest_config(const DevConfig& c, uint32_t pasid, sc_core::sc_time& t, Event& ev) {
  ++gcr3_lookups_;
  const uint64_t key = (uint64_t{c.devid} << 20) | pasid;
  auto same = [&](const GuestConfig& g) { return g.devid == c.devid && g.pasid == pasid; };
  if (const GuestConfig* g = gcr3_cache_.find(key, same)) return g;
  ++gcr3_misses_;
  ev = Event{};
  ev.code = evt::IO_PAGE_FAULT;
  host_fault_ = false;
  const Dte& d = c.dte;
  const unsigned bits = efr::pasid_bits(static_cast<unsigned>(p_.pas_max));
  if ((uint64_t{pasid} >> bits) != 0 || (uint64_t{pasid} >> (9 * (d.glx + 1))) != 0) return nullptr;
  uint64_t table = d.gcr3_root;
  for (int level = d.glx; level >= 0; --level) {
    uint64_t pa = table + uint64_t{gcr3::index(pasid, static_cast<unsigned>(level))} * 8;
    if (c.nested) {  // the GCR3 table lives in guest-physical memory
      Found f;
      if (!gcr3_gpa(c, pa, pa, t, f, ev)) {
        if (f.kind != Found::HwError) {
          ev = Event{};
          ev.code = evt::IO_PAGE_FAULT;
          ev.device_id = c.devid;
          ev.domain_id = d.domain_id;
          ev.pr = f.pr;
          ev.pe = f.pe;
          ev.rz = f.rz;
          ev.addr = f.gpa;
          host_fault_ = true;
        }
        return nullptr;
      }
    }
    uint64_t e = 0;
    if (!mem_access(false, pa, &e, 8, t)) {
      ev = Event{};
      ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
      ev.device_id = c.devid;
      ev.gn = true;
      ev.pasid = pasid;
      ev.addr = pa;
      return nullptr;
    }
    if (!gcr3::valid(e)) return nullptr;  // no guest table for this PASID
    table = gcr3::addr(e);
  }
  const GuestConfig g{c.devid, pasid, d.domain_id, table};
  if (const GuestConfig* stored = gcr3_cache_.insert(key, g, same)) return stored;
  static thread_local GuestConfig scratch;
  scratch = g;
  return &scratch;
}

void AmdVi::invalidate_dev(uint16_t devid) {
  last_dev_ = nullptr;
  dev_cache_.invalidate_if([&](const DevConfig& c) { return c.devid == devid; });
  gcr3_cache_.invalidate_if([&](const GuestConfig& g) { return g.devid == devid; });
}

}  // namespace iommusim::amdvi
