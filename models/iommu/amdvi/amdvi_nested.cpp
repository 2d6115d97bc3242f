// AMD-Vi nested guest translation (param guest_nested): a DTE with GV = 1 and a host table (Mode 1..6)
// translates guest virtual addresses through the v2 guest tables whose every address (the GCR3 table's
// levels, the guest CR3, each guest table) is a GPA translated by the DTE's v1 host table, and the guest
// output through the host table too. The walk is the translation core's nested walk; combined IOTLB
// entries are tagged (DomainID, PASID), host walk-cache entries (DomainID, 0) marked stage 2.
//
// Faults (IO_PAGE_FAULT, 48882 event log "IO_PAGE_FAULT" entry): a guest-level fault is GN = 1 with the
// PASID and the guest virtual address, PR/RZ from the guest entry; a host-level fault while translating
// a GPA (a GCR3 or guest table address, or the guest output) is GN = 0 with the DomainID and that GPA as
// the address, PR/RZ/PE from the host entry (a host entry denying the read of a guest table: PE). The
// IO_PAGE_FAULT format has no separate nested flag: the GN = 0 record naming a GPA is how the host
// level shows.
#include <tlm>

#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/core/nested_probe.h"

namespace iommusim::amdvi {

bool AmdVi::dbg_read64(uint64_t pa, uint64_t& v) {
  tlm::tlm_generic_payload gp;
  gp.set_command(tlm::TLM_READ_COMMAND);
  gp.set_address(pa);
  gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
  gp.set_data_length(8);
  gp.set_streaming_width(8);
  return mem->transport_dbg(gp) == 8;
}

namespace {

// PR / RZ of a host-table (v1) fault from the codec's last error.
template <class FoundT>
void host_error(const AmdV1Format& v1, bool in_range, FoundT& f) {
  const pgtable::amdv1::Error err = v1.last_error();
  v1.clear_error();
  const bool not_present = !in_range || err == pgtable::amdv1::Error::NotPresent;
  f.pr = !not_present;
  f.rz = !not_present && err != pgtable::amdv1::Error::None;
}

}  // namespace

bool AmdVi::gcr3_gpa(const DevConfig& c, uint64_t gpa, uint64_t& spa, sc_core::sc_time& t, Found& f, Event& ev) {
  const Dte& d = c.dte;
  f.gpa = gpa;
  // No IOTLB fill: host translations of table addresses share the host walk caches only, so they never
  // alias a guest (PASID 0) entry of the same DomainID.
  WalkResult w;
  const bool in_range = c.v1.va_in_range(gpa);
  if (in_range) w = core_.walk(TlbTag{d.domain_id, 0}, true, c.v1, d.pt_root, gpa, t);
  else w.fault = WalkFault::Translation;
  if (w.fault == WalkFault::None && w.entry.perm.r) {
    spa = w.entry.pa | (gpa & ((uint64_t{1} << w.entry.shift) - 1));
    return true;
  }
  if (w.fault == WalkFault::ExternalAbort) {
    c.v1.clear_error();
    ev = Event{};
    ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
    ev.device_id = c.devid;
    ev.domain_id = d.domain_id;
    ev.addr = gpa;
    f.kind = Found::HwError;
    return false;
  }
  f.kind = Found::PageFault;
  f.host = true;
  if (w.fault == WalkFault::None) {  // mapped without IR: the table read is denied
    f.pr = f.pe = true;
    return false;
  }
  host_error(c.v1, in_range, f);
  return false;
}

AmdVi::Found AmdVi::find_nested(const DevConfig& c, const GuestConfig& g, uint32_t pasid, uint64_t va, bool write,
                                sc_core::sc_time& t, Event& ev) {
  const Dte& d = c.dte;
  Found f;
  f.gn = true;
  if (!c.v2.canonical(va)) {
    f.kind = Found::PageFault;
    return f;
  }
  f.e = core_.translate_nested(TlbTag{d.domain_id, pasid}, c.v2, g.cr3, TlbTag{d.domain_id, 0}, c.v1, d.pt_root, va,
                               t, nested_walk_);
  if (f.e) return f;
  const NestedWalkResult& n = nested_walk_;
  if (n.stage == NestedStage::Stage1) {
    const bool rz = c.v2.last_reserved();
    c.v2.clear_error();
    c.v1.clear_error();
    if (n.fault == WalkFault::ExternalAbort) {
      ev = Event{};
      ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
      ev.device_id = c.devid;
      ev.gn = true;
      ev.pasid = pasid;
      ev.rw = write;
      ev.addr = va;
      f.kind = Found::HwError;
      return f;
    }
    f.kind = Found::PageFault;
    f.pr = f.rz = rz;
    return f;
  }
  c.v2.clear_error();
  // Host level: the GPA is the guest table's entry (Stage2Table) or the guest output.
  f.host = true;
  f.gpa = n.stage == NestedStage::Stage2Table ? n.gpa + c.v2.entry_offset(va, n.s1_level) : n.gpa;
  if (n.fault == WalkFault::ExternalAbort) {
    c.v1.clear_error();
    ev = Event{};
    ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
    ev.device_id = c.devid;
    ev.domain_id = d.domain_id;
    ev.rw = write;
    ev.addr = f.gpa;
    f.kind = Found::HwError;
    return f;
  }
  f.kind = Found::PageFault;
  if (n.fault == WalkFault::Permission) {  // the host entry of a guest table denies reads
    c.v1.clear_error();
    f.pr = f.pe = true;
    return f;
  }
  host_error(c.v1, n.fault != WalkFault::AddressSize, f);
  return f;
}

AmdVi::Found AmdVi::nested_denied(const DevConfig& c, uint32_t pasid, uint64_t va, bool write, bool priv) {
  Found f;
  f.gn = true;
  const GuestConfig* g = nullptr;
  const uint64_t key = (uint64_t{c.devid} << 20) | pasid;
  g = gcr3_cache_.find(key, [&](const GuestConfig& x) { return x.devid == c.devid && x.pasid == pasid; });
  if (!g) return f;  // cache disabled: reported at the guest level
  const NestedProbe np = probe_nested(c.v2, g->cr3, c.v1, c.dte.pt_root, va,
                                      [this](uint64_t pa, uint64_t& v) { return dbg_read64(pa, v); });
  c.v1.clear_error();
  c.v2.clear_error();
  if (!np.ok) return f;
  const bool guest_denies = (write ? !np.s1.w : !np.s1.r) || (!priv && !np.s1.user);
  if (!guest_denies) {
    f.host = true;
    f.gpa = np.ipa;
  }
  return f;
}

}  // namespace iommusim::amdvi
