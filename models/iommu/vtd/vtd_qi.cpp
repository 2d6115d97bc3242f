// VT-d invalidation queue: descriptors fetched from simulated memory, executed in order with a cost each,
// device-TLB invalidations and page group responses sent to the device through the ATS agent, invalidation
// waits completed once every earlier descriptor (and every Invalidate Completion, and with PD every page
// request received) has, queue errors reported through IQE and ITE.
#include "models/iommu/vtd/vtd.h"

#include <algorithm>

#include "models/common/sim_time.h"
#include "models/pcie/ats_defs.h"

namespace iommusim::vtd {

void VtdIommu::qi_thread() {
  for (;;) {
    wait(qi_kick_);
    sc_core::sc_time t = sc_core::sc_time_stamp();
    // IQH advances only once the descriptor before it has completed at its simulated time, so a CPU
    // reading IQH (or a status word) never sees work done early.
    while ((gsts_ & gsts::QIES) && !(fsts_ & (fsts::IQE | fsts::ITE))) {
      const DescWidth w = (iqa_ & iqa::DW) ? DescWidth::W256 : DescWidth::W128;
      const unsigned bytes = desc_bytes(w);
      const uint32_t entries = iq_entries(static_cast<unsigned>(iqa::QS.get(iqa_)), w);
      if (w == DescWidth::W256 && !p_.scalable_mode) {
        qi_error(iqercd::BAD_WIDTH, t);
        break;
      }
      if (!iq_tail_aligned(iqt_, w)) {
        qi_error(iqercd::TAIL_MISALIGNED, t);
        break;
      }
      const uint32_t tail = iq_index(iqt_, w);
      if (tail >= entries) {
        qi_error(iqercd::BAD_TAIL, t);
        break;
      }
      const uint32_t head = iq_index(iqh_, w);
      if (head >= entries) {  // the queue shrank under a stale head: restart from the base
        iqh_ = 0;
        continue;
      }
      if (ring_empty(head, tail)) break;
      const uint32_t n = std::min({ring_count(head, tail, entries), entries - head,
                                   static_cast<uint32_t>(p_.desc_fetch_batch)});
      uint64_t buf[4 * 64];
      ++inv_fetch_reads_;
      const bool fetched = mem_access(false, (iqa_ & iqa::ADDR_MASK) + uint64_t{head} * bytes, buf, n * bytes, t);
      // Descriptors take effect (and errors show) only once the fetch's data has arrived.
      if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
      if (!fetched) {
        qi_error(iqercd::FETCH_ERR, t);
        break;
      }
      const unsigned qwords = bytes / 8;
      for (uint32_t i = 0; i < n && (gsts_ & gsts::QIES); ++i) {
        Desc d;
        for (unsigned q = 0; q < qwords; ++q) d.qw[q] = buf[i * qwords + q];
        const uint8_t type = desc_type(d.qw[0]);
        bool known = false;
        switch (type) {
          case dtype::CONTEXT_CACHE:
          case dtype::IOTLB:
          case dtype::DEV_TLB:
          case dtype::WAIT: known = true; break;
          case dtype::IEC: known = p_.interrupt_remapping; break;
          case dtype::PASID_IOTLB:
          case dtype::PASID_CACHE:
          case dtype::PASID_DEV_TLB: known = p_.scalable_mode; break;
          // A 256-bit descriptor: in a 128-bit queue it is an invalid descriptor (VT-d 7.6), as without PRS.
          case dtype::PAGE_GROUP_RESP: known = p_.page_requests && w == DescWidth::W256; break;
          default: break;
        }
        // IQH stays on the bad descriptor; the host sees IQE in FSTS and the reason in IQERCD.
        if (!known) {
          qi_error(iqercd::BAD_TYPE, t);
          break;
        }
        const sc_core::sc_time t0 = t;
        if (type == dtype::WAIT && ats_.outstanding()) {
          // The wait first waits for the Invalidate Completions of every earlier device-TLB invalidation. A
          // time-out is ITE: the wait is aborted (no status write, no IWC), IQH stays on it and the queue
          // stops until software clears FSTS.ITE; the wait then runs again.
          const std::vector<uint16_t> timed_out = ats_.drain(t);
          if (!timed_out.empty()) {
            inv_timeout(timed_out.front(), t);
            break;
          }
        }
        // PD: the page requests received so far are in the queue before the wait completes (VT-d 7.7).
        if (type == dtype::WAIT && p_.page_requests && decode_wait(d).pd) prq_drain(t);
        if (!execute(d, type, t)) {
          qi_error(iqercd::RSVD_FIELD, t);
          break;
        }
        timeline::span(tl_, timeline::Cat::Command, desc_type_name(type), t0, t, head + i, d.qw[0] >> 32);
        if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
        iqh_ = iq_reg(ring_next(head + i, entries), w);
        if (type == dtype::WAIT) complete_wait(decode_wait(d), t);
        if (type == dtype::WAIT) timeline::instant(tl_, timeline::Cat::Completion, "wait complete", t, head + i);
      }
    }
  }
}

void VtdIommu::qi_error(uint8_t iqei, sc_core::sc_time t) {
  fsts_ |= fsts::IQE;
  iqercd_ = iqercd::IQEI.put(iqercd_, iqei);
  ++inv_errors_;
  fault_event(t);
}

bool VtdIommu::execute(const Desc& d, uint8_t type, sc_core::sc_time& t) {
  switch (type) {
    case dtype::CONTEXT_CACHE: {
      const ContextCacheInv c = decode_context_cache_inv(d);
      if (c.g < gran::GLOBAL || c.g > gran::DEVICE) return false;
      ++inv_context_;
      inv_context(c.g, c.did, c.sid, c.fm);
      t += cc_latency_;
      break;
    }
    case dtype::IOTLB: {
      const IotlbInv c = decode_iotlb_inv(d);
      if (c.g < gran::GLOBAL || c.g > gran::PAGE) return false;
      ++inv_iotlb_;
      inv_iotlb(c.g, c.did, c.am, c.ih, c.addr);
      t += iotlb_latency_;
      break;
    }
    case dtype::PASID_IOTLB: {
      const PasidIotlbInv c = decode_pasid_iotlb_inv(d);
      if (c.g != pgran::PASID_ALL && c.g != pgran::PASID_PAGE) return false;
      ++inv_piotlb_;
      inv_pasid_iotlb(c.g, c.did, c.pasid, c.am, c.ih, c.addr);
      t += iotlb_latency_;
      break;
    }
    case dtype::PASID_CACHE: {
      const PasidCacheInv c = decode_pasid_cache_inv(d);
      if (c.g != pcgran::DOMAIN && c.g != pcgran::PASID && c.g != pcgran::GLOBAL) return false;
      ++inv_pasid_cache_;
      inv_pasid_cache(c.g, c.did, c.pasid);
      t += pc_latency_;
      break;
    }
    case dtype::DEV_TLB: {
      const DevTlbInv c = decode_dev_tlb_inv(d);
      dev_tlb_inv(c.sid, false, 0, false, c.mip, c.addr, c.s, t);
      break;
    }
    case dtype::PASID_DEV_TLB: {
      const PasidDevTlbInv c = decode_pasid_dev_tlb_inv(d);
      dev_tlb_inv(c.sid, true, c.pasid, c.global, c.mip, c.addr, c.s, t);
      break;
    }
    case dtype::IEC: {
      const IecInv c = decode_iec_inv(d);
      ++inv_iec_;
      inv_iec(c.index_selective, c.im, c.iidx);
      t += iec_latency_;
      break;
    }
    case dtype::WAIT:
      // In-order execution makes every wait a fence: all earlier descriptors have completed by now.
      ++inv_waits_;
      t += wait_latency_;
      break;
    case dtype::PAGE_GROUP_RESP: return page_group_response(d, t);  // not an invalidation: not counted as one
    default: return false;
  }
  ++inv_total_;
  return true;
}

// A device-TLB invalidation becomes an Invalidate Request to the device behind sid; MIP is its Invalidate
// Queue Depth (0 = 32): the agent holds the request (and this queue) until the device has room. Completions
// are collected by the next wait.
void VtdIommu::dev_tlb_inv(uint16_t sid, bool pv, uint32_t pasid, bool global, uint8_t mip, uint64_t addr, bool s,
                           sc_core::sc_time& t) {
  ++inv_devtlb_;
  t += devtlb_latency_;
  const AddrRange r = devtlb_range(addr, s);
  const uint64_t size = r.first == 0 && r.last == UINT64_MAX ? ats::kAllRange : r.last - r.first + 1;
  if (!p_.device_tlb || !ats_.invalidate(sid, pv, pasid, r.first, size, global, mip, t)) {
    ++inv_devtlb_no_device_;  // no ATS device at that source-id: nothing to invalidate
    return;
  }
  if (sim_now() > t) t = sim_now();  // waited for an ITag or queue room
}

// Invalidation time-out error: FSTS.ITE with the device's source-id in IQERCD.ITESID (kept from the first
// error until software clears ITE), and a fault event.
void VtdIommu::inv_timeout(uint16_t sid, sc_core::sc_time t) {
  ++inv_ite_;
  if (fsts_ & fsts::ITE) return;
  fsts_ |= fsts::ITE;
  iqercd_ = iqercd::ITESID.put(iqercd_, sid);
  fault_event(t);
}

void VtdIommu::complete_wait(const WaitDesc& w, sc_core::sc_time& t) {
  if (w.sw) {
    // The status write is posted: the queue goes on while it travels to memory.
    uint32_t data = w.status_data;
    sc_core::sc_time wt = t;
    mem_access(true, w.status_addr, &data, 4, wt);
  }
  if (w.intr && !(ics_ & ics::IWC)) {
    ics_ |= ics::IWC;
    if (iectl_ & ectl::IM) {
      iectl_ |= ectl::IP;
    } else {
      const sc_core::sc_time now = sim_now();
      inv_irq_.notify(t > now ? t - now : sc_core::SC_ZERO_TIME);
    }
  }
}

void VtdIommu::inv_context(uint8_t g, uint16_t did, uint16_t sid, uint8_t fm) {
  forget_memo();
  switch (g) {
    case gran::GLOBAL: ctx_cache_.invalidate_if([](const CtxCacheEntry&) { return true; }); break;
    case gran::DOMAIN:
      // Scalable-mode context entries carry no DID: a domain-selective request drops them all.
      ctx_cache_.invalidate_if([&](const CtxCacheEntry& e) { return e.scalable || e.did == did; });
      break;
    case gran::DEVICE: {
      // Function mask: FM 1 ignores SID bit 2, FM 2 bits 2:1, FM 3 bits 2:0.
      const uint16_t ignore = fm == 0 ? 0 : fm == 1 ? 0x4 : fm == 2 ? 0x6 : 0x7;
      ctx_cache_.invalidate_if([&](const CtxCacheEntry& e) { return (e.sid & ~ignore) == (sid & ~ignore); });
      break;
    }
    default: break;
  }
}

uint8_t VtdIommu::inv_iotlb(uint8_t g, uint16_t did, uint8_t am, bool ih, uint64_t addr) {
  Iotlb& tlb = core_.iotlb();
  WalkCache& wc = core_.walk_cache();
  // Hardware may always invalidate more than asked: without PSI, or beyond MAMV, the whole domain goes. So
  // does a domain with nested translations: their entries are tagged by first-stage address, a guest-physical
  // page cannot find them.
  if (g == gran::PAGE && (!p_.psi || am > p_.mamv || nested_dids_[did])) g = gran::DOMAIN;
  switch (g) {
    case gran::GLOBAL:
      ++inv_iotlb_global_;
      tlb.invalidate_all();
      wc.invalidate_all();
      break;
    case gran::DOMAIN:
      // Every translation of the DID, whatever its PASID and stage.
      ++inv_iotlb_domain_;
      tlb.invalidate_domain(did);
      wc.invalidate_domain(did);
      break;
    case gran::PAGE: {
      // Second-stage mappings of the DID (any PASID) in the 2^AM-page aligned block; IH=0 also drops the
      // paging-structure (walk) cache entries over that block.
      ++inv_iotlb_page_;
      const AddrRange r = am_range(addr, am);
      const uint64_t end = r.last == UINT64_MAX ? UINT64_MAX : r.last + 1;
      tlb.invalidate_ipa_range(did, r.first, end);
      if (!ih) wc.invalidate_range({did, 0}, true, r.first, end, shifts_);
      break;
    }
    default: return 0;
  }
  return g;
}

void VtdIommu::inv_pasid_iotlb(uint8_t g, uint16_t did, uint32_t pasid, uint8_t am, bool ih, uint64_t addr) {
  Iotlb& tlb = core_.iotlb();
  WalkCache& wc = core_.walk_cache();
  const TlbTag tag{did, pasid};
  if (g == pgran::PASID_PAGE && am > p_.mamv) g = pgran::PASID_ALL;
  if (g == pgran::PASID_ALL) {
    // First-stage non-global mappings of (DID, PASID) and their paging-structure entries.
    tlb.invalidate_space(tag);
    wc.invalidate_space(tag);
    return;
  }
  const AddrRange r = am_range(addr, am);
  const uint64_t end = r.last == UINT64_MAX ? UINT64_MAX : r.last + 1;
  tlb.invalidate_range(tag, r.first, end);  // global mappings in the range too
  if (!ih) wc.invalidate_range(tag, false, r.first, end, shifts_);
}

void VtdIommu::inv_pasid_cache(uint8_t g, uint16_t did, uint32_t pasid) {
  forget_memo();
  switch (g) {
    case pcgran::GLOBAL: pasid_cache_.invalidate_if([](const PasidCacheEntry&) { return true; }); break;
    case pcgran::DOMAIN:
      pasid_cache_.invalidate_if([&](const PasidCacheEntry& e) { return e.x.tag.domain == did; });
      break;
    case pcgran::PASID:
      pasid_cache_.invalidate_if([&](const PasidCacheEntry& e) { return e.x.tag.domain == did && e.pasid == pasid; });
      break;
    default: break;
  }
}

void VtdIommu::inv_iec(bool index_selective, uint8_t im, uint16_t iidx) {
  if (!index_selective || im > 0xF) {  // beyond ECAP.MHMV: done globally
    irte_cache_.invalidate_if([](const IrteCacheEntry&) { return true; });
    return;
  }
  const uint32_t first = iidx & ~((1u << im) - 1), last = first + (1u << im) - 1;
  irte_cache_.invalidate_if([&](const IrteCacheEntry& e) { return e.index >= first && e.index <= last; });
}

}  // namespace iommusim::vtd
