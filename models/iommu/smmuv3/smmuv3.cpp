// SMMUv3: construction, the DMA data path and the event queue.
#include "models/iommu/core/mem_access.h"
#include "models/iommu/smmuv3/smmuv3.h"

#include <cstring>
#include <stdexcept>

#include "models/common/sim_time.h"

namespace iommusim::smmuv3 {

SmmuV3::SmmuV3(sc_core::sc_module_name name, const SmmuV3Params& p, uint64_t seed)
    : sc_module(name),
      upstream("upstream"),
      mem("mem"),
      regs("regs"),
      p_(p),
      stats_(this->name()),
      inv_stats_("inv", &stats_),
      evt_stats_("events", &stats_),
      core_(p.core, *this, seed, stats_),
      ats_("ats", p.ats_port, stats_),
      cfg_cache_(p.config_cache, seed, "config_cache"),
      mmio_latency_(to_sc(p.mmio_latency)),
      cfgi_latency_(to_sc(p.cfgi_latency)),
      tlbi_latency_(to_sc(p.tlbi_latency)),
      sync_latency_(to_sc(p.sync_latency)),
      other_latency_(to_sc(p.other_cmd_latency)),
      trap_cmd_(to_sc(p.trap_per_command)),
      trap_sync_(to_sc(p.trap_per_sync)),
      transactions_(stats_.counter("transactions", "DMA transactions received")),
      bypassed_(stats_.counter("bypassed", "transactions passed untranslated (bypass STE or SMMU disabled)")),
      aborted_(stats_.counter("aborted", "transactions aborted by an abort STE or GBPA")),
      faults_(stats_.counter("faults", "transactions that faulted in configuration or translation")),
      cfg_lookups_(stats_.counter("config_lookups", "configuration cache lookups")),
      cfg_misses_(stats_.counter("config_misses", "configuration cache misses (STE/CD fetched)")),
      cmd_total_(inv_stats_.counter("commands", "commands executed")),
      cmd_fetch_reads_(inv_stats_.counter("fetch_reads", "command-queue memory reads")),
      cmd_cfgi_(inv_stats_.counter("cfgi", "CFGI_* commands")),
      cmd_tlbi_(inv_stats_.counter("tlbi", "TLBI_* commands of any kind")),
      cmd_tlbi_asid_(inv_stats_.counter("tlbi_asid", "TLBI_NH_ASID commands")),
      cmd_tlbi_va_(inv_stats_.counter("tlbi_va", "TLBI_NH_VA commands")),
      cmd_sync_(inv_stats_.counter("syncs", "CMD_SYNC commands")),
      cmd_other_(inv_stats_.counter("other", "other commands (prefetch, PRI_RESP, RESUME)")),
      cmd_errors_(inv_stats_.counter("errors", "commands rejected with CERROR_ILL")),
      events_(evt_stats_.counter("recorded", "event records written to the event queue")),
      events_lost_(evt_stats_.counter("lost", "events dropped: queue disabled or full")),
      cmd_atc_inv_(inv_stats_.counter("atc_inv", "CMD_ATC_INV commands")),
      atc_inv_dropped_(inv_stats_.counter("atc_inv_no_device", "CMD_ATC_INV naming a StreamID with no ATS device below")),
      atc_inv_timeouts_(inv_stats_.counter("atc_inv_sync_errors", "CMD_SYNCs stopped by an ATC invalidation time-out")),
      stalled_(evt_stats_.counter("stalled", "transactions stalled awaiting RESUME")),
      stall_retries_(evt_stats_.counter("stall_retries", "stalled transactions retried by RESUME")),
      stall_aborts_(evt_stats_.counter("stall_aborts", "stalled transactions aborted by RESUME or STALL_TERM")),
      ats_treqs_(stats_.counter("ats_translation_requests", "ATS Translation Requests answered")),
      ats_translated_(stats_.counter("ats_translated", "translated (AT=Translated) transactions passed to memory")),
      ats_rejected_(stats_.counter("ats_rejected", "ATS requests refused: ATS disabled for the stream or bad config")) {
  upstream.register_b_transport(this, &SmmuV3::up_b_transport);
  regs.register_b_transport(this, &SmmuV3::regs_b_transport);

  using namespace idr0;
  idr_[0] = (p.stage2 ? S2P : 0) | (p.stage1 ? S1P : 0) | TTF.make(TTF_AARCH64) | (p.coherent ? COHACC : 0) |
            ASID16 | VMID16 | MSI | (p.sev ? SEV : 0) | (p.ats ? ATS : 0) | CD2L |
            TTENDIAN.make(TTENDIAN_LE) | STALL_MODEL.make(p.stall ? 0 : 1) | ST_LEVEL.make(p.two_level_strtab ? 1 : 0) |
            (p.pri ? PRI : 0);
  idr_[1] = static_cast<uint32_t>(idr1::SIDSIZE.make(p.sid_bits) | idr1::SSIDSIZE.make(p.ssid_bits) |
                                  idr1::EVENTQS.make(p.eventq_max_log2) | idr1::CMDQS.make(p.cmdq_max_log2) |
                                  (p.pri ? idr1::PRIQS.make(p.priq_max_log2) : 0));
  idr_[3] = (p.range_invalidation ? idr3::RIL : 0) | (p.pri ? idr3::PPS : 0);
  unsigned oas = 0;
  while (oas < 6 && ps_bits(oas) < p.oas_bits) ++oas;
  idr_[5] = static_cast<uint32_t>(idr5::OAS.make(oas)) | idr5::GRAN4K | idr5::GRAN16K | idr5::GRAN64K |
            static_cast<uint32_t>(idr5::STALL_MAX.make(p.stall ? p.max_stalls : 0));
  for (uint64_t i = 0; i < (p.stall ? p.max_stalls : 0); ++i) stalls_.push_back(Stalled{});
  SC_THREAD(cmdq_thread);
  if (p.pri) {  // smmuv3_pri.cpp
    if (!p.ats) throw std::invalid_argument("smmuv3: pri needs ats");
    priq_latency_ = to_sc(p.priq_latency);
    pri_stats_ = std::make_unique<PriStats>(stats_);
    SC_THREAD(priq_thread);
  }
}

void SmmuV3::fail(tlm::tlm_generic_payload& gp, IoStatus st) {
  gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (auto* x = gp.get_extension<PcieExt>()) x->status = st;
}

void SmmuV3::up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  ++transactions_;
  // A resumed stall starts the transaction over; a loop, so repeated stalls cannot deepen the stack.
  while (!translate_once(gp, delay)) {
  }
  (void)port;
}

// One attempt of the upstream path; false when a stalled transaction was resumed with a retry.
bool SmmuV3::translate_once(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  const sc_core::sc_time now = sim_now();  // only a stalled transaction waits, then starts over
  sc_core::sc_time t = now + delay;
  PcieExt* x = gp.get_extension<PcieExt>();
  if (x && (x->at != AddrType::Untranslated || x->msg != MsgKind::None)) {
    ats_transport(gp, *x, delay);
    return true;
  }
  const uint32_t sid = x ? x->rid : 0;
  const bool ssv = x && x->pasid_valid;
  const uint32_t ssid = ssv ? x->pasid : 0;
  const uint64_t va = gp.get_address();
  uint64_t pa = va;

  if (!(cr0_ & cr0::SMMUEN)) {
    if (gbpa_ & gbpa::ABORT) {
      ++aborted_;
      delay = t - now;
      fail(gp, IoStatus::Aborted);
      return true;
    }
    ++bypassed_;
  } else {
    Event& ev = fault_ev_;  // filled only on a fault: no per-transaction initialisation
    const StreamConfig* c = config(sid, ssv, ssid, t, ev);
    if (!c) {
      ++faults_;
      if (ev.s2) {  // nested: a stage-2 fault fetching the CD names the transaction (7.3.12)
        ev.input_addr = va;
        ev.rnw = !gp.is_write();
        ev.pnu = x && x->pmr;
      }
      if (!cfg_fault_silent_) record_event(ev, t);
      delay = t - now;
      fail(gp, ev.s2 ? (ev.type == evt::F_PERMISSION ? IoStatus::PermissionFault : IoStatus::TranslationFault)
                     : IoStatus::ConfigFault);
      return true;
    }
    switch (c->mode) {
      case StreamConfig::Mode::Abort:
        ++aborted_;
        delay = t - now;
        fail(gp, IoStatus::Aborted);
      return true;
      case StreamConfig::Mode::Bypass: ++bypassed_; break;
      case StreamConfig::Mode::Nested: {
        bool retry = false;
        if (!nested_dma(gp, x, *c, va, t, now, delay, pa, retry)) return !retry;
        break;
      }
      case StreamConfig::Mode::Stage1:
      case StreamConfig::Mode::Stage2: {
        const bool s2 = c->mode == StreamConfig::Mode::Stage2;
        const bool write = gp.is_write();
        ev.type = 0;
        WalkResult& wr = fault_walk_;
        const TlbEntry* e = nullptr;
        if ((va >> c->fmt.input_bits()) == 0) e = core_.translate(c->tag, s2, c->fmt, c->root, va, t, wr);
        if (e) {
          const bool priv = x && x->pmr;
          if (write ? !e->perm.w : !e->perm.r)
            ev.type = evt::F_PERMISSION;
          else if (!s2 && !priv && !e->perm.user)
            ev.type = evt::F_PERMISSION;
        } else {
          switch (wr.fault) {
            case WalkFault::AccessFlag: ev.type = evt::F_ACCESS; break;
            case WalkFault::AddressSize: ev.type = evt::F_ADDR_SIZE; break;
            case WalkFault::ExternalAbort: ev.type = evt::F_WALK_EABT; break;
            default: ev.type = evt::F_TRANSLATION; break;
          }
        }
        if (ev.type) {
          const uint8_t type = ev.type;
          ev = Event{};
          ev.type = type;
          ++faults_;
          if (c->stall && !s2) {
            // Stall model: the transaction waits in the SMMU for software's RESUME (or STALL_TERM).
            ev.sid = sid;
            ev.ssv = ssv;
            ev.ssid = ssid;
            ev.rnw = !write;
            ev.pnu = x && x->pmr;
            ev.cls = evt::CLASS_IN;
            ev.input_addr = va;
            switch (stall(ev, t)) {
              case StallOutcome::Retry:
                delay = t - sim_now();  // the retry is the same transaction
                return false;
              case StallOutcome::Abort:
                delay = t - sim_now();
                fail(gp, IoStatus::Aborted);
      return true;
              case StallOutcome::NotStalled: break;  // no room: terminated as without stalling
            }
          }
          if (c->record) {
            ev.sid = sid;
            ev.ssv = ssv;
            ev.ssid = ssid;
            ev.rnw = !write;
            ev.pnu = x && x->pmr;
            ev.s2 = s2;
            ev.cls = evt::CLASS_IN;
            ev.input_addr = va;
            if (s2) ev.ipa = va & ~uint64_t{7};  // stage-2-only: the input address is the IPA
            record_event(ev, t);
          }
          delay = t - now;
          fail(gp, ev.type == evt::F_PERMISSION ? IoStatus::PermissionFault : IoStatus::TranslationFault);
      return true;
        }
        pa = e->pa | (va & ((uint64_t{1} << e->shift) - 1));
        break;
      }
    }
  }
  // `delay` is still the arrival's here.
  timeline::span(tl_, timeline::Cat::Translate, "translate", now + delay, t, va, sid, ssid);
  gp.set_address(pa);
  delay = t - now;
  mem->b_transport(gp, delay);
  gp.set_address(va);
  return true;
}

bool SmmuV3::mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t) {
  return iommu_mem_access(*mem[0], pool_, write, pa, data, len, t);
}

bool SmmuV3::record_event(const Event& e, sc_core::sc_time t) {
  timeline::instant(tl_, timeline::Cat::Fault, event_name(e.type), t, e.input_addr, e.sid, e.type);
  if (e.type && events_by_type_[e.type] == nullptr)
    events_by_type_[e.type] = &evt_stats_.counter(event_name(e.type), "events of this type");
  if (events_by_type_[e.type]) ++*events_by_type_[e.type];
  const unsigned log2 = static_cast<unsigned>(qbase::LOG2SIZE.get(eventq_base_));
  if (!(cr0_ & cr0::EVTQEN) || queue_full(eventq_prod_, eventq_cons_, log2)) {
    // A full queue sets OVFLG (toggled relative to CONS.OVACKFLG) and drops the record.
    if (cr0_ & cr0::EVTQEN) eventq_prod_ = (eventq_prod_ & ~qreg::OVFLG) | ((eventq_cons_ & qreg::OVFLG) ^ qreg::OVFLG);
    ++events_lost_;
    return false;
  }
  uint64_t rec[EVT_DWORDS];
  encode(e, rec);
  const uint64_t addr = (eventq_base_ & qbase::ADDR_MASK) + uint64_t{queue_index(eventq_prod_, log2)} * 32;
  // The record write runs beside the faulting transaction: it does not delay the DMA's response.
  mem_access(true, addr, rec, sizeof rec, t);
  eventq_prod_ = queue_inc(eventq_prod_, log2);
  ++events_;
  // The event queue interrupt: an MSI (EVENTQ_IRQ_CFG1's data to EVENTQ_IRQ_CFG0's address [51:2],
  // IDR0.MSI) when enabled with an address, else the wired interrupt the event stands for.
  const uint64_t msi = eventq_irq_cfg0_ & genmask(51, 2);
  if ((irq_ctrl_ & irq_ctrl::EVENTQ_IRQEN) && msi) {
    PcieExt* xp;
    tlm::tlm_generic_payload* gp = pool_.acquire(xp);
    xp->rid = static_cast<uint16_t>(p_.msi_device_id);
    eventq_msi_buf_ = eventq_irq_cfg1_;
    gp->set_command(tlm::TLM_WRITE_COMMAND);
    gp->set_address(msi);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&eventq_msi_buf_));
    gp->set_data_length(4);
    gp->set_streaming_width(4);
    sc_core::sc_time d = t > sim_now() ? t - sim_now() : sc_core::SC_ZERO_TIME;
    mem->b_transport(*gp, d);
    gp->release();
  } else {
    eventq_irq_.notify(t > sim_now() ? t - sim_now() : sc_core::SC_ZERO_TIME);
  }
  return true;
}

}  // namespace iommusim::smmuv3
