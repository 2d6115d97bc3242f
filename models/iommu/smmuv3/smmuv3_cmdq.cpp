// SMMUv3 command queue: fetch from simulated memory, execute with a cost, complete CMD_SYNC.
#include "models/iommu/smmuv3/smmuv3.h"

#include <algorithm>

#include "models/pcie/ats_defs.h"

namespace iommusim::smmuv3 {

void SmmuV3::cmdq_thread() {
  for (;;) {
    wait(cmdq_kick_);
    const unsigned log2 = static_cast<unsigned>(qbase::LOG2SIZE.get(cmdq_base_));
    const uint64_t base = cmdq_base_ & qbase::ADDR_MASK;
    sc_core::sc_time t = sc_core::sc_time_stamp();
    // CONS advances only once the commands before it have completed at their simulated time, so a
    // CPU reading CONS never sees a command done early.
    while ((cr0_ & cr0::CMDQEN) && !((gerror_ ^ gerrorn_) & gerror::CMDQ_ERR) &&
           !queue_empty(cmdq_prod_, cmdq_cons_, log2)) {
      const uint32_t idx = queue_index(cmdq_cons_, log2);
      const uint32_t avail = queue_count(cmdq_prod_, cmdq_cons_, log2);
      const uint32_t to_end = (1u << log2) - idx;
      const uint32_t n = std::min({avail, to_end, static_cast<uint32_t>(p_.cmd_fetch_batch)});
      uint64_t buf[2 * 64];
      ++cmd_fetch_reads_;
      if (!mem_access(false, base + uint64_t{idx} * 16, buf, n * 16, t)) {
        cmdq_cons_ = qreg::CMDQ_CONS_ERR.put(cmdq_cons_, qreg::CERROR_ABT);
        gerror_ ^= gerror::CMDQ_ERR;
        ++cmd_errors_;
        break;
      }
      // Commands take effect (and errors show) only once the fetch's data has arrived.
      if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
      for (uint32_t i = 0; i < n; ++i) {
        const uint64_t* raw = &buf[2 * i];
        const uint8_t opcode = static_cast<uint8_t>(raw[0] & 0xFF);
        if (!valid_opcode(opcode) || (opcode == op::PRI_RESP && pri_resp_illegal(raw))) {
          // CONS stays on the bad command; the host sees CMDQ_ERR in GERROR and CONS.ERR.
          cmdq_cons_ = qreg::CMDQ_CONS_ERR.put(cmdq_cons_, qreg::CERROR_ILL);
          gerror_ ^= gerror::CMDQ_ERR;
          ++cmd_errors_;
          break;
        }
        const sc_core::sc_time t0 = t;
        execute(decode_cmd(raw), t);
        timeline::span(tl_, timeline::Cat::Command, opcode_name(opcode), t0, t, idx + i, raw[0] >> 32);
        if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
        if (opcode == op::CMD_SYNC && ats_.outstanding()) {
          // CMD_SYNC also waits for every earlier ATC_INV's Invalidate Completion; a time-out stops
          // the queue on the sync with CERROR_ATC_INV_SYNC (the driver retries it).
          const auto timed_out = ats_.drain(t);
          if (!timed_out.empty()) {
            cmdq_cons_ = qreg::CMDQ_CONS_ERR.put(cmdq_cons_, qreg::CERROR_ATC_INV_SYNC);
            gerror_ ^= gerror::CMDQ_ERR;
            ++cmd_errors_;
            ++atc_inv_timeouts_;
            break;
          }
        }
        cmdq_cons_ = queue_inc(qreg::CMDQ_CONS_ERR.put(cmdq_cons_, 0), log2);
        if (opcode == op::CMD_SYNC) complete_sync(decode_cmd(raw), t);
        if (opcode == op::CMD_SYNC) timeline::instant(tl_, timeline::Cat::Completion, "CMD_SYNC complete", t, idx + i);
      }
    }
  }
}

void SmmuV3::execute(const Cmd& c, sc_core::sc_time& t) {
  ++cmd_total_;
  t += trap_cmd_;  // emulated SMMU: the hypervisor handles every command in software
  if (c.opcode == op::CMD_SYNC) t += trap_sync_;
  Iotlb& tlb = core_.iotlb();
  WalkCache& wc = core_.walk_cache();
  switch (c.opcode) {
    case op::CFGI_STE:
      ++cmd_cfgi_;
      invalidate_config(c.sid, c.sid, true, 0);
      t += cfgi_latency_;
      return;
    case op::CFGI_STE_RANGE: {
      ++cmd_cfgi_;
      const AddrRange r = cfgi_sid_range(c);
      invalidate_config(static_cast<uint32_t>(r.first), static_cast<uint32_t>(std::min<uint64_t>(r.last, UINT32_MAX)),
                        true, 0);
      t += cfgi_latency_;
      return;
    }
    case op::CFGI_CD:
      ++cmd_cfgi_;
      invalidate_config(c.sid, c.sid, false, c.ssid);
      t += cfgi_latency_;
      return;
    case op::CFGI_CD_ALL:
      ++cmd_cfgi_;
      invalidate_config(c.sid, c.sid, true, 0);
      t += cfgi_latency_;
      return;
    case op::TLBI_NH_ASID:
      ++cmd_tlbi_;
      ++cmd_tlbi_asid_;
      tlb.invalidate_space({c.vmid, c.asid});
      wc.invalidate_space({c.vmid, c.asid});
      t += tlbi_latency_;
      return;
    case op::TLBI_NH_VA: {
      ++cmd_tlbi_;
      ++cmd_tlbi_va_;
      const AddrRange r = tlbi_range(c);
      const uint64_t end = r.last == UINT64_MAX ? UINT64_MAX : r.last + 1;
      tlb.invalidate_range({c.vmid, c.asid}, r.first, end);
      // Non-leaf invalidation may remove table pointers; the whole ASID's walk cache is a safe superset.
      if (!c.leaf) wc.invalidate_space({c.vmid, c.asid});
      t += tlbi_latency_;
      return;
    }
    case op::TLBI_S2_IPA: {
      // Stage-2-only entries by IPA. Combined (nested) entries, tagged by VA, stay: invalidating them is
      // not required of a TLB that combines the stages; software adds TLBI_NH_ALL or TLBI_S12_VMALL.
      ++cmd_tlbi_;
      const AddrRange r = tlbi_range(c);
      const uint64_t end = r.last == UINT64_MAX ? UINT64_MAX : r.last + 1;
      tlb.invalidate_ipa_range(c.vmid, r.first, end);
      if (!c.leaf) wc.invalidate_domain(c.vmid);
      t += tlbi_latency_;
      return;
    }
    case op::TLBI_S12_VMALL:
      ++cmd_tlbi_;
      tlb.invalidate_domain(c.vmid);
      wc.invalidate_domain(c.vmid);
      t += tlbi_latency_;
      return;
    case op::TLBI_NH_ALL:
    case op::TLBI_NSNH_ALL:
    case op::TLBI_NH_VAA:  // by VA for all ASIDs: modelled conservatively as everything
    case op::TLBI_EL2_ALL:
    case op::TLBI_EL2_ASID:
    case op::TLBI_EL2_VA:
    case op::TLBI_EL2_VAA:
    case op::TLBI_EL3_ALL:
    case op::TLBI_EL3_VA:
      ++cmd_tlbi_;
      tlb.invalidate_all();
      wc.invalidate_all();
      t += tlbi_latency_;
      return;
    case op::ATC_INV: {
      ++cmd_atc_inv_;
      t += other_latency_;
      const AddrRange r = atc_inv_range(c);
      const uint64_t size = r.first == 0 && r.last == ~uint64_t{0} ? ats::kAllRange : r.last - r.first + 1;
      // A StreamID without an ATS device below this SMMU has nothing to invalidate.
      if (!ats_.invalidate(static_cast<uint16_t>(c.sid), c.ssv, c.ssid, r.first, size, c.global, 0, t))
        ++atc_inv_dropped_;
      return;
    }
    case op::PRI_RESP:
      ++cmd_other_;
      t += other_latency_;
      if (p_.pri) pri_resp(c, t);  // without PRI accepted and ignored, as before
      return;
    case op::RESUME:
      ++cmd_other_;
      t += other_latency_;
      resume(c.sid, c.stag, c.resp == resume_action::RETRY, t);
      return;
    case op::STALL_TERM:
      ++cmd_other_;
      t += other_latency_;
      stall_term(c.sid, t);
      return;
    case op::CMD_SYNC:
      ++cmd_sync_;
      t += sync_latency_;
      return;
    default:
      ++cmd_other_;
      t += other_latency_;
      return;
  }
}

void SmmuV3::complete_sync(const Cmd& c, sc_core::sc_time& t) {
  if (c.cs == sync_cs::IRQ) {
    // MSI write of MSIData to MSIAddress: with the address pointing at the CMD_SYNC itself this is
    // the completion word Linux polls on.
    uint32_t data = c.msi_data;
    mem_access(true, c.msi_addr, &data, 4, t);
  }
  sev_.notify(t > sc_core::sc_time_stamp() ? t - sc_core::sc_time_stamp() : sc_core::SC_ZERO_TIME);
}

}  // namespace iommusim::smmuv3
