// VT-d interrupt remapping: writes to 0xFEE0_0000-0xFEEF_FFFF bypass DMA translation; remappable-format
// requests are looked up in the interrupt remapping table (through the interrupt entry cache), checked,
// and delivered as a compatibility-format MSI write into the delivery window.
#include "models/iommu/vtd/vtd.h"
#include "models/iommu/core/mem_access.h"
#include "models/irq/irq_sink.h"

#include <algorithm>
#include <cstring>

namespace iommusim::vtd {
namespace {

// Source-id qualifier: which requester-id bits the SVT=01b check ignores (function-number bits).
constexpr uint16_t sq_ignore(uint8_t sq) { return sq == 0 ? 0 : sq == 1 ? 0x4 : sq == 2 ? 0x6 : 0x7; }

}  // namespace

void VtdIommu::interrupt(tlm::tlm_generic_payload& gp, const PcieExt* x, sc_core::sc_time& t) {
  ++ir_requests_;
  const uint64_t addr = gp.get_address();
  if (!gp.is_write()) {  // reads of the interrupt window are blocked
    ++aborted_;
    return fail(gp, IoStatus::Aborted);
  }
  const unsigned len = gp.get_data_length();
  uint32_t data = 0;
  std::memcpy(&data, gp.get_data_ptr(), std::min(len, 4u));
  const uint16_t sid = x ? x->rid : 0;
  const bool eime = active_irta_ & irta::EIME;
  Fault& f = fault_scratch_;
  f = Fault{0, false, IoStatus::InterruptFault, 0};
  uint64_t out_addr = 0;
  uint32_t out_data = 0;

  if (!(gsts_ & gsts::IRES)) {
    // Remapping off: the request is an interrupt as it stands.
    out_addr = p_.irq_delivery_base + (addr - MSI_BASE);
    out_data = data;
    ++ir_compat_;
  } else if (!msi_is_remappable(addr)) {
    // Compatibility format: passes only with GSTS.CFIS, never in x2APIC mode.
    if (!(gsts_ & gsts::CFIS) || eime) {
      f.reason = fr::IR_CFI_BLOCKED;
    } else {
      out_addr = p_.irq_delivery_base + (addr - MSI_BASE);
      out_data = data;
      ++ir_compat_;
    }
  } else {
    const RemapMsi m = *decode_remap_msi({addr, data});
    const uint32_t index = irte_index(m);
    f.info = uint64_t{index} << 48;  // FI[63:48] holds the interrupt index
    const Irte* e = nullptr;
    Irte fetched;
    if (len != 4 || (m.shv && (data >> 16))) {
      f.reason = fr::IR_RSVD;  // not a DWORD write, or data[31:16] set with a subhandle
    } else if (index >= irta_entries(active_irta_)) {
      f.reason = fr::IR_INDEX;
    } else {
      ++ir_iec_lookups_;
      auto same = [&](const IrteCacheEntry& c) { return c.index == index; };
      if (const IrteCacheEntry* c = irte_cache_.find(index, same)) {
        e = &c->irte;
      } else {
        ++ir_iec_misses_;
        uint64_t raw[2] = {};
        if (!mem_access(false, (active_irta_ & irta::ADDR_MASK) + uint64_t{index} * 16u, raw, sizeof raw, t)) {
          f.reason = fr::IR_ACCESS;
        } else {
          fetched = decode_irte(raw);
          // Reserved: [14:12], [31:24]; posted format (IM) unsupported; xAPIC: DST[7:0] and [31:16];
          // upper qword above SVT; SVT 11b.
          const bool rsvd = (raw[0] & (genmask(14, 12) | genmask(31, 24))) || fetched.im ||
                            (!eime && (fetched.dst & 0xFFFF00FFu)) || (raw[1] & genmask(63, 20)) || fetched.svt == 3;
          if (!fetched.present) {
            f.reason = fr::IR_NOT_PRESENT;
          } else if (rsvd) {
            f.reason = fr::IR_IRTE_RSVD;
            f.fpd = fetched.fpd;
          } else {
            e = &fetched;
            if (const IrteCacheEntry* s = irte_cache_.insert(index, IrteCacheEntry{index, fetched}, same)) e = &s->irte;
          }
        }
      }
    }
    if (e) {
      f.fpd = e->fpd;
      bool sid_ok = true;
      if (e->svt == svt::SID_SQ) {
        const uint16_t keep = static_cast<uint16_t>(~sq_ignore(e->sq));
        sid_ok = (sid & keep) == (e->sid & keep);
      } else if (e->svt == svt::BUS_RANGE) {
        const unsigned bus = sid >> 8;
        sid_ok = bus >= (e->sid >> 8) && bus <= (e->sid & 0xFFu);
      }
      if (!sid_ok) {
        f.reason = fr::IR_SID;
      } else {
        // Compatibility-format MSI for the CPU side: destination in address[19:12] (x2APIC: the upper
        // 24 bits in address[63:40]), RH bit 3, DM bit 2; data: vector, delivery mode [10:8], trigger bit 15.
        const uint32_t dest = eime ? e->dst : (e->dst >> 8) & 0xFFu;
        out_addr = p_.irq_delivery_base | (uint64_t{dest & 0xFFu} << 12) | (e->rh ? bit(3) : 0) |
                   (e->dm ? bit(2) : 0) | (uint64_t{dest & 0xFFFFFF00u} << 32);
        out_data = uint32_t{e->vector} | (uint32_t{e->dlm} << 8) | (e->tm ? 1u << 15 : 0);
        ++ir_remapped_;
      }
    }
  }
  if (f.reason) {
    ++ir_faults_;
    return fault(gp, x, f, t);
  }
  timeline::instant(tl_, timeline::Cat::Irq, "interrupt remapped", t, sid, out_data & 0xFF, (out_addr >> 12) & 0xFF);
  // The remapped request carries the raising write's tag on to delivery.
  iommu_mem_access(*mem[0], pool_, true, out_addr, &out_data, 4, t, gp.get_extension<MsiTag>());
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim::vtd
