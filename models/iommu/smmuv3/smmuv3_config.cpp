// SMMUv3 configuration: stream-table and context-descriptor fetch, decode and caching.
#include "models/iommu/smmuv3/smmuv3.h"

namespace iommusim::smmuv3 {
namespace {

uint64_t key_of(uint32_t sid, bool ssv, uint32_t ssid) {
  return (uint64_t{sid} << 21) ^ (ssv ? (uint64_t{1} << 20) | ssid : 0);
}

bool granule_of(unsigned shift, pgtable::Granule& g) {
  switch (shift) {
    case 12: g = pgtable::Granule::K4; return true;
    case 14: g = pgtable::Granule::K16; return true;
    case 16: g = pgtable::Granule::K64; return true;
    default: return false;
  }
}

}  // namespace

const StreamConfig* SmmuV3::config_lookup(uint32_t sid, bool ssv, uint32_t ssid, sc_core::sc_time& t, Event& ev) {
  ++cfg_lookups_;
  const uint64_t key = key_of(sid, ssv, ssid);
  auto same = [&](const StreamConfig& c) { return c.sid == sid && c.ssv == ssv && c.ssid == ssid; };
  if (const StreamConfig* c = cfg_cache_.find(key, same)) return last_cfg_ = c;
  ++cfg_misses_;
  StreamConfig c;
  c.sid = sid;
  c.ssv = ssv;
  c.ssid = ssid;
  ev = Event{};
  ev.sid = sid;
  ev.ssv = ssv;
  ev.ssid = ssid;
  cfg_fault_silent_ = false;
  if (!fetch_config(c, t, ev)) return nullptr;
  last_cfg_ = nullptr;  // the insert may evict the remembered entry
  if (const StreamConfig* stored = cfg_cache_.insert(key, c, same)) return last_cfg_ = stored;
  // Configuration cache disabled: keep one decoded copy for this transaction.
  static thread_local StreamConfig scratch;
  scratch = c;
  return &scratch;
}

bool SmmuV3::fetch_config(StreamConfig& c, sc_core::sc_time& t, Event& ev) {
  const unsigned log2size = static_cast<unsigned>(strtab::CFG_LOG2SIZE.get(strtab_cfg_));
  const unsigned fmt = static_cast<unsigned>(strtab::CFG_FMT.get(strtab_cfg_));
  const uint64_t base = strtab_base_ & strtab::BASE_ADDR_MASK;
  if (log2size < 32 && (uint64_t{c.sid} >> log2size) != 0) {
    ev.type = evt::C_BAD_STREAMID;
    return false;
  }
  uint64_t ste_addr;
  if (fmt == strtab::FMT_2LVL && p_.two_level_strtab) {
    const unsigned split = static_cast<unsigned>(strtab::CFG_SPLIT.get(strtab_cfg_));
    uint64_t l1 = 0;
    const uint64_t l1_addr = base + (uint64_t{c.sid} >> split) * 8;
    if (!mem_access(false, l1_addr, &l1, 8, t)) {
      ev.type = evt::F_STE_FETCH;
      ev.ipa = l1_addr;
      return false;
    }
    const L1Std d = decode_l1std(l1);
    const uint64_t idx = c.sid & ((uint64_t{1} << split) - 1);
    if (d.span == 0 || d.span > split + 1 || idx >= (uint64_t{1} << (d.span - 1))) {
      ev.type = evt::C_BAD_STREAMID;
      return false;
    }
    ste_addr = d.l2ptr + idx * 64;
  } else {
    ste_addr = base + uint64_t{c.sid} * 64;
  }
  uint64_t raw[STE_DWORDS];
  if (!mem_access(false, ste_addr, raw, sizeof raw, t)) {
    ev.type = evt::F_STE_FETCH;
    ev.ipa = ste_addr;
    return false;
  }
  const Ste ste = decode_ste(raw);
  if (!ste.valid || !ste_config_valid(static_cast<uint8_t>(ste.config))) {
    ev.type = evt::C_BAD_STE;
    return false;
  }
  c.ats = p_.ats && ste.eats == ste::EATS_TRANS;  // split-stage ATS (S1CHK) is not modelled
  // The stage-2 regime (S2VMID, S2T0SZ, S2SL0, S2TG, S2AA64, S2TTB; IHI 0070 5.2) of S2Trans and Nested STEs.
  auto stage2 = [&](VmsaFormat& fmt, uint64_t& root, TlbTag& tag) {
    pgtable::Granule g;
    if (!ste.s2aa64 || !granule_of(tg0_shift(ste.s2tg), g)) return false;
    const auto geo = pgtable::Geometry::make_s2(g, 64 - ste.s2t0sz, ste.s2sl0);
    if (!geo) return false;
    fmt = VmsaFormat(*geo, true);
    root = ste.s2ttb & ~uint64_t{0xF};
    tag = {ste.s2vmid, kS2Space};
    return true;
  };
  switch (ste.config) {
    case SteConfig::Abort: c.mode = StreamConfig::Mode::Abort; return true;
    case SteConfig::Bypass: c.mode = StreamConfig::Mode::Bypass; return true;
    case SteConfig::Nested:
      // Both stages (IDR0.S1P and S2P): S1ContextPtr, the CD-table descriptors, CD.TTB0 and every stage-1
      // table address are IPAs translated by the STE's stage 2 (IHI 0070 3.3.2, 5.2 S1ContextPtr).
      if (!p_.stage1 || !p_.stage2 || !stage2(c.s2fmt, c.s2root, c.s2tag)) break;
      c.mode = StreamConfig::Mode::Nested;
      c.s2_record = ste.s2r;
      return fetch_cd(c, ste, c.ssid, t, ev);
    case SteConfig::S2Trans:
      if (!p_.stage2 || !stage2(c.fmt, c.root, c.tag)) break;
      c.mode = StreamConfig::Mode::Stage2;
      c.record = ste.s2r;
      return true;
    case SteConfig::S1Trans:
      if (!p_.stage1) break;
      return fetch_cd(c, ste, c.ssid, t, ev);
  }
  ev.type = evt::C_BAD_STE;
  return false;
}

bool SmmuV3::fetch_cd(StreamConfig& c, const Ste& ste, uint32_t ssid, sc_core::sc_time& t, Event& ev) {
  const unsigned cdmax = ste.s1_cdmax;
  const bool nested = c.mode == StreamConfig::Mode::Nested;
  if (c.ssv) {
    if (cdmax == 0 || (uint64_t{ssid} >> cdmax) != 0) {
      ev.type = evt::C_BAD_SUBSTREAMID;
      return false;
    }
  } else if (cdmax != 0) {
    // Transactions without a SubstreamID when CDs are indexed: STE.S1DSS decides.
    if (ste.s1dss == ste::S1DSS_BYPASS) {
      // Nested: stage 1 bypassed, stage 2 still applies (IHI 0070 5.2 S1DSS).
      if (nested) {
        c.mode = StreamConfig::Mode::Stage2;
        c.fmt = c.s2fmt;
        c.root = c.s2root;
        c.tag = c.s2tag;
        c.record = c.s2_record;
        return true;
      }
      c.mode = StreamConfig::Mode::Bypass;
      return true;
    }
    if (ste.s1dss != ste::S1DSS_SSID0) {
      c.mode = StreamConfig::Mode::Abort;
      return true;
    }
    ssid = 0;
  }
  uint64_t cd_addr = ste.s1_context_ptr;
  if (cdmax != 0 && ste.s1fmt != ste::S1FMT_LINEAR) {
    const unsigned split = ste.s1fmt == ste::S1FMT_4K_L2 ? 6 : 10;  // 64 B CDs in a 4 KiB / 64 KiB leaf
    uint64_t l1 = 0;
    uint64_t l1_addr = cd_addr + (uint64_t{ssid} >> split) * 8;
    if (nested && !cd_ipa_to_pa(c, l1_addr, l1_addr, t, ev)) return false;
    if (!mem_access(false, l1_addr, &l1, 8, t)) {
      ev.type = evt::F_CD_FETCH;
      ev.ipa = l1_addr;
      return false;
    }
    const L1Cd d = decode_l1cd(l1);
    if (!d.valid) {
      ev.type = evt::C_BAD_SUBSTREAMID;
      return false;
    }
    cd_addr = d.l2ptr + (uint64_t{ssid} & ((uint64_t{1} << split) - 1)) * 64;
  } else {
    cd_addr += uint64_t{ssid} * 64;
  }
  uint64_t raw[CD_DWORDS];
  if (nested && !cd_ipa_to_pa(c, cd_addr, cd_addr, t, ev)) return false;
  if (!mem_access(false, cd_addr, raw, sizeof raw, t)) {
    ev.type = evt::F_CD_FETCH;
    ev.ipa = cd_addr;
    return false;
  }
  const Cd cd = decode_cd(raw);
  pgtable::Granule g;
  const unsigned ias = 64 - cd.t0sz;
  if (!cd.valid || !cd.aa64 || cd.epd0 || !granule_of(tg0_shift(cd.tg0), g) || ias > 48 ||
      ias <= tg0_shift(cd.tg0) || ps_bits(cd.ips) == 0) {
    ev.type = evt::C_BAD_CD;
    return false;
  }
  if (!nested) c.mode = StreamConfig::Mode::Stage1;
  c.fmt = VmsaFormat(pgtable::Geometry::make(g, ias), false);
  c.root = cd.ttb0 & ~uint64_t{0xF};
  c.tag = {ste.s2vmid, cd.asid};
  c.record = cd.r;
  c.stall = p_.stall && cd.s && !ste.s1stalld;
  return true;
}

void SmmuV3::invalidate_config(uint32_t sid_first, uint32_t sid_last, bool any_ssid, uint32_t ssid) {
  last_cfg_ = nullptr;
  cfg_cache_.invalidate_if([&](const StreamConfig& c) {
    return c.sid >= sid_first && c.sid <= sid_last && (any_ssid || (c.ssv ? c.ssid : 0) == ssid);
  });
}

}  // namespace iommusim::smmuv3
