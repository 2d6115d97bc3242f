// VT-d request-to-translation resolution: root, context, PASID directory and PASID-table entries, fetched
// from memory with timed reads, decoded, checked and held in the context and PASID caches.
#include "models/iommu/vtd/vtd.h"

namespace iommusim::vtd {
namespace {

using Geometry = X86Format::Geometry;
using Stage = X86Format::Stage;

uint64_t pasid_index(uint16_t sid, uint32_t pasid) { return sid ^ (uint64_t{pasid} * 0x9E37u); }

}  // namespace

bool VtdIommu::second_stage_format(unsigned aw, X86Format& fmt) const {
  if (aw < 1 || aw > 3 || !((p_.sagaw >> aw) & 1)) return false;
  fmt = X86Format(Geometry::make(aw_levels(aw), p_.ss_2m, p_.ss_1g, static_cast<unsigned>(p_.haw_bits)), Stage::Second);
  return true;
}

bool VtdIommu::root_mode(bool& scalable, Fault& f) const {
  const uint8_t ttm = static_cast<uint8_t>(rtaddr::TTM.get(active_rtaddr_));
  if (ttm == rtaddr::TTM_ABORT_DMA) {  // abort-DMA mode: blocked, nothing recorded
    f = Fault{0, false, IoStatus::Aborted, 0};
    return false;
  }
  if (ttm != rtaddr::TTM_LEGACY && (ttm != rtaddr::TTM_SCALABLE || !p_.scalable_mode)) {
    f = Fault{fr::SM_RTA_INVALID, false, IoStatus::ConfigFault, 0};
    return false;
  }
  scalable = ttm == rtaddr::TTM_SCALABLE;
  return true;
}

VtdIommu::Resolved VtdIommu::resolve_slow(uint16_t sid, bool pv, uint32_t pasid, sc_core::sc_time& t, Fault& f) {
  ++ctx_lookups_;
  bool scalable = false;
  if (!root_mode(scalable, f)) return {};
  const CtxCacheEntry* c = context_entry(sid, scalable, t, f);
  if (!c) return {};
  Resolved r;
  if (!scalable) {
    if (pv) {  // legacy mode translates requests without PASID only
      f = Fault{fr::SM_TTM0_PASID, c->legacy.fpd, IoStatus::ConfigFault, 0};
      return {};
    }
    r.x = &c->legacy;
  } else {
    const SmContextEntry& sm = c->sm;
    if (pv && !sm.paside) {
      f = Fault{fr::SM_CTX_PASIDE, sm.fpd, IoStatus::ConfigFault, 0};
      return {};
    }
    const uint32_t eff = pv ? pasid : sm.rid_pasid;  // requests without PASID use RID_PASID
    if ((eff >> 6) >= pasid_dir_entries(sm.pdts) || (uint64_t{eff} >> p_.pasid_bits) != 0) {
      f = Fault{pv ? fr::SM_CTX_PASID_TOO_BIG : fr::SM_CTX_RID_PASID, sm.fpd, IoStatus::ConfigFault, 0};
      return {};
    }
    ++pasid_lookups_;
    const PasidCacheEntry* pe = pasid_entry(*c, eff, t, f);
    if (!pe) return {};
    r.x = &pe->x;
    r.rid_priv = sm.rid_priv;
  }
  // Remember only resolutions whose entries all live in the caches (not the scratch copy of a disabled
  // cache): a memo hit stands for context- and PASID-cache hits.
  if (c != &ctx_scratch_ && r.x != &pasid_scratch_.x) {
    memo_ = r;
    memo_sid_ = sid;
    memo_pv_ = pv;
    memo_pasid_ = pasid;
  }
  return r;
}

const CtxCacheEntry* VtdIommu::context_entry(uint16_t sid, bool scalable, sc_core::sc_time& t, Fault& f) {
  auto same = [&](const CtxCacheEntry& e) { return e.sid == sid && e.scalable == scalable; };
  if (const CtxCacheEntry* c = ctx_cache_.find(sid, same)) return c;
  ++ctx_misses_;
  CtxCacheEntry c;
  c.sid = sid;
  c.scalable = scalable;
  if (!(scalable ? fetch_sm_context(c, t, f) : fetch_legacy_context(c, t, f))) return nullptr;
  forget_memo();  // the insert may evict the remembered entry
  if (const CtxCacheEntry* stored = ctx_cache_.insert(sid, c, same)) return stored;
  ctx_scratch_ = c;
  return &ctx_scratch_;
}

bool VtdIommu::fetch_legacy_context(CtxCacheEntry& c, sc_core::sc_time& t, Fault& f) {
  const unsigned bus = c.sid >> 8;
  const uint8_t devfn = static_cast<uint8_t>(c.sid);
  f = Fault{0, false, IoStatus::ConfigFault, 0};
  uint64_t root[2] = {};
  if (!mem_access(false, (active_rtaddr_ & rtaddr::RTA_MASK) + bus * 16u, root, sizeof root, t)) {
    f.reason = fr::ROOT_ACCESS;
    return false;
  }
  if (!(root[0] & 1)) {
    f.reason = fr::ROOT_NOT_PRESENT;
    return false;
  }
  if ((root[0] & genmask(11, 1)) || root[1]) {
    f.reason = fr::ROOT_RSVD;
    return false;
  }
  const RootEntry re = decode_root(root);
  uint64_t ce[2] = {};
  if (!mem_access(false, re.ctp + legacy_context_offset(devfn), ce, sizeof ce, t)) {
    f.reason = fr::CTX_ACCESS;
    return false;
  }
  const ContextEntry cx = decode_context(ce);
  if (!cx.present) {
    f.reason = fr::CTX_NOT_PRESENT;
    return false;
  }
  f.fpd = cx.fpd;
  // Reserved: lo [11:4], hi bit 7 and [63:24].
  if ((ce[0] & genmask(11, 4)) || (ce[1] & (bit(7) | genmask(63, 24)))) {
    f.reason = fr::CTX_RSVD;
    return false;
  }
  c.did = cx.did;
  c.ats = cx.tt == tt::ALL;
  DevXlate& d = c.legacy;
  d.scalable = false;
  d.fpd = cx.fpd;
  d.tag = {cx.did, 0};
  switch (cx.tt) {
    case tt::UNTRANSLATED:
    case tt::ALL:
      if (cx.tt == tt::ALL && !p_.device_tlb) break;
      if (!second_stage_format(cx.aw, d.fmt)) break;  // AW not in SAGAW
      d.mode = DevXlate::Mode::SecondStage;
      d.root = cx.slptptr;
      return true;
    case tt::PASS_THROUGH:
      if (!p_.pass_through) break;
      d.mode = DevXlate::Mode::PassThrough;
      return true;
    default: break;
  }
  f.reason = fr::CTX_INVALID;
  return false;
}

bool VtdIommu::fetch_sm_context(CtxCacheEntry& c, sc_core::sc_time& t, Fault& f) {
  const unsigned bus = c.sid >> 8;
  const uint8_t devfn = static_cast<uint8_t>(c.sid);
  f = Fault{0, false, IoStatus::ConfigFault, 0};
  uint64_t root[2] = {};
  if (!mem_access(false, (active_rtaddr_ & rtaddr::RTA_MASK) + bus * 16u, root, sizeof root, t)) {
    f.reason = fr::SM_ROOT_ACCESS;
    return false;
  }
  const SmRootEntry re = decode_sm_root(root);
  const bool upper = sm_context_upper(devfn);
  if (!(upper ? re.upper_present : re.lower_present)) {
    f.reason = fr::SM_ROOT_NOT_PRESENT;
    return false;
  }
  if ((root[0] & genmask(11, 1)) || (root[1] & genmask(11, 1))) {
    f.reason = fr::SM_ROOT_RSVD;
    return false;
  }
  uint64_t ce[4] = {};
  if (!mem_access(false, (upper ? re.upper_ctp : re.lower_ctp) + sm_context_offset(devfn), ce, sizeof ce, t)) {
    f.reason = fr::SM_CTX_ACCESS;
    return false;
  }
  const SmContextEntry sc = decode_sm_context(ce);
  if (!sc.present) {
    f.reason = fr::SM_CTX_NOT_PRESENT;
    return false;
  }
  f.fpd = sc.fpd;
  // Reserved: lo [8:5], qword 1 above RID_PRIV, qwords 2-3; DTE without device-TLB support, PRE without PRS.
  if ((ce[0] & genmask(8, 5)) || (ce[1] & genmask(63, 21)) || ce[2] || ce[3] || (sc.dte && !p_.device_tlb) ||
      (sc.pre && !p_.page_requests)) {
    f.reason = fr::SM_CTX_RSVD;
    return false;
  }
  if (sc.pre && !sc.dte) {  // SCT.4.1: page requests without a device TLB
    f.reason = fr::SM_CTX_INVALID;
    return false;
  }
  c.sm = sc;
  c.ats = sc.dte;
  return true;
}

const PasidCacheEntry* VtdIommu::pasid_entry(const CtxCacheEntry& c, uint32_t pasid, sc_core::sc_time& t, Fault& f) {
  const uint16_t sid = c.sid;
  auto same = [&](const PasidCacheEntry& e) { return e.sid == sid && e.pasid == pasid; };
  if (const PasidCacheEntry* e = pasid_cache_.find(pasid_index(sid, pasid), same)) return e;
  ++pasid_misses_;
  const SmContextEntry& sm = c.sm;
  f = Fault{0, sm.fpd, IoStatus::ConfigFault, 0};
  uint64_t pde = 0;
  if (!mem_access(false, sm.pasid_dir_ptr + uint64_t{pasid_dir_index(pasid)} * 8u, &pde, 8, t)) {
    f.reason = fr::SM_PDE_ACCESS;
    return nullptr;
  }
  const PasidDirEntry dir = decode_pasid_dir(pde);
  if (!dir.present) {
    f.reason = fr::SM_PDE_NOT_PRESENT;
    return nullptr;
  }
  f.fpd = sm.fpd || dir.fpd;
  if (pde & genmask(11, 2)) {
    f.reason = fr::SM_PDE_RSVD;
    return nullptr;
  }
  uint64_t raw[PASID_ENTRY_QWORDS] = {};
  if (!mem_access(false, dir.table + uint64_t{pasid_table_index(pasid)} * 64u, raw, sizeof raw, t)) {
    f.reason = fr::SM_PTE_ACCESS;
    return nullptr;
  }
  const PasidEntry pe = decode_pasid_entry(raw);
  if (!pe.present) {
    f.reason = fr::SM_PTE_NOT_PRESENT;
    return nullptr;
  }
  f.fpd = f.fpd || pe.fpd;
  PasidCacheEntry e;
  e.sid = sid;
  e.pasid = pasid;
  DevXlate& x = e.x;
  x.scalable = true;
  x.fpd = f.fpd;
  x.tag = {pe.did, pasid};
  x.sre = pe.sre;
  x.wpe = pe.wpe;
  bool ok = false;
  switch (pe.pgtt) {
    case pgtt::FIRST_STAGE:
      if (!p_.first_stage || pe.flpm > flpm::LEVEL5 || (pe.flpm == flpm::LEVEL5 && !p_.fs_5level)) break;
      x.mode = DevXlate::Mode::FirstStage;
      x.fmt = X86Format(Geometry::make(flpm_levels(pe.flpm), true, p_.fs_1g, static_cast<unsigned>(p_.haw_bits)),
                        Stage::First);
      x.root = pe.fsptptr;
      ok = true;
      break;
    case pgtt::SECOND_STAGE:
      if (!p_.second_stage || !second_stage_format(pe.aw, x.fmt)) break;
      x.mode = DevXlate::Mode::SecondStage;
      x.root = pe.ssptptr;
      ok = true;
      break;
    case pgtt::NESTED:
      if (!(ecap_ & ecap::NEST) || pe.flpm > flpm::LEVEL5 || (pe.flpm == flpm::LEVEL5 && !p_.fs_5level) ||
          !second_stage_format(pe.aw, x.s2fmt))
        break;
      x.mode = DevXlate::Mode::Nested;
      nested_dids_[pe.did] = true;
      // First-stage addresses are guest-physical: the second stage's width bounds them (74h), not HAW.
      x.fmt = X86Format(Geometry::make(flpm_levels(pe.flpm), true, p_.fs_1g, pgtable::x86::kMaxOaBits), Stage::First);
      x.root = pe.fsptptr;
      x.s2root = pe.ssptptr;
      ok = true;
      break;
    case pgtt::PASS_THROUGH:
      if (!p_.pass_through) break;
      x.mode = DevXlate::Mode::PassThrough;
      ok = true;
      break;
    default: break;  // reserved encodings
  }
  if (!ok) {
    f.reason = fr::SM_PTE_INVALID;
    return nullptr;
  }
  forget_memo();
  if (const PasidCacheEntry* stored = pasid_cache_.insert(pasid_index(sid, pasid), e, same)) return stored;
  pasid_scratch_ = e;
  return &pasid_scratch_;
}

}  // namespace iommusim::vtd
