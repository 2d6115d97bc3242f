// AMD-Vi: construction, the DMA data path, interrupt remapping and the event log.
#include "models/iommu/core/mem_access.h"
#include "models/iommu/amdvi/amdvi.h"

#include <algorithm>
#include <cstring>

#include "models/common/pcie_ext.h"
#include "models/common/sim_time.h"

namespace iommusim::amdvi {

AmdVi::AmdVi(sc_core::sc_module_name name, const AmdViParams& p, uint64_t seed)
    : sc_module(name),
      upstream("upstream"),
      mem("mem"),
      regs("regs"),
      p_(p),
      stats_(this->name()),
      inv_stats_("inv", &stats_),
      evt_stats_("events", &stats_),
      core_(p.core, *this, seed, stats_),
      ats_("ats", p.ats, stats_),
      dev_cache_(p.devtab_cache, seed, "devtab_cache"),
      gcr3_cache_(p.gcr3_cache, seed, "gcr3_cache"),
      irte_cache_(p.irte_cache, seed, "irte_cache"),
      mmio_latency_(to_sc(p.mmio_latency)),
      devtab_inv_latency_(to_sc(p.devtab_inv_latency)),
      pages_inv_latency_(to_sc(p.pages_inv_latency)),
      all_inv_latency_(to_sc(p.all_inv_latency)),
      iotlb_inv_latency_(to_sc(p.iotlb_inv_latency)),
      irt_inv_latency_(to_sc(p.irt_inv_latency)),
      other_latency_(to_sc(p.other_cmd_latency)),
      wait_latency_(to_sc(p.wait_latency)),
      ppr_latency_(to_sc(p.ppr_latency)),
      transactions_(stats_.counter("transactions", "DMA transactions received")),
      bypassed_(stats_.counter("bypassed", "transactions passed untranslated (IOMMU off, DTE V/TV = 0, Mode 0)")),
      aborted_(stats_.counter("aborted", "transactions target-aborted by IntCtl or an illegal DTE")),
      faults_(stats_.counter("faults", "transactions that faulted in the device table or translation")),
      interrupts_(stats_.counter("interrupts_remapped", "interrupt writes remapped through an IRTE")),
      dev_lookups_(stats_.counter("devtab_lookups", "device table cache lookups")),
      dev_misses_(stats_.counter("devtab_misses", "device table cache misses (DTE fetched)")),
      gcr3_lookups_(stats_.counter("gcr3_lookups", "GCR3 cache lookups")),
      gcr3_misses_(stats_.counter("gcr3_misses", "GCR3 cache misses (GCR3 table walked)")),
      cmd_total_(inv_stats_.counter("commands", "commands executed")),
      cmd_fetch_reads_(inv_stats_.counter("fetch_reads", "command-buffer memory reads")),
      cmd_devtab_(inv_stats_.counter("devtab", "INVALIDATE_DEVTAB_ENTRY commands")),
      cmd_pages_(inv_stats_.counter("pages", "INVALIDATE_IOMMU_PAGES commands")),
      cmd_iotlb_pages_(inv_stats_.counter("iotlb_pages", "INVALIDATE_IOTLB_PAGES commands")),
      cmd_all_(inv_stats_.counter("all", "INVALIDATE_IOMMU_ALL commands")),
      cmd_irt_(inv_stats_.counter("interrupt_table", "INVALIDATE_INTERRUPT_TABLE commands")),
      cmd_ppr_(inv_stats_.counter("complete_ppr", "COMPLETE_PPR_REQUEST commands (each sends a PRG Response)")),
      cmd_ppr_no_device_(inv_stats_.counter(
          "complete_ppr_no_device", "COMPLETE_PPR_REQUEST naming a DeviceID with no PRI device below: not sent")),
      cmd_waits_(inv_stats_.counter("waits", "COMPLETION_WAIT commands")),
      cmd_errors_(inv_stats_.counter("errors", "commands rejected with ILLEGAL_COMMAND_ERROR or a fetch error")),
      events_(evt_stats_.counter("recorded", "entries written to the event log")),
      events_lost_(evt_stats_.counter("lost", "events dropped: log disabled, stopped or full")),
      iotlb_no_device_(inv_stats_.counter("iotlb_pages_no_device",
                                          "INVALIDATE_IOTLB_PAGES naming a DeviceID with no ATS device below")),
      iotlb_timeouts_(
          inv_stats_.counter("iotlb_inv_timeouts", "IOTLB invalidations that timed out (IOTLB_INV_TIMEOUT)")),
      ats_treqs_(stats_.counter("ats_translation_requests", "ATS Translation Requests answered")),
      ats_translated_(stats_.counter("ats_translated", "translated (AT=Translated) requests passed to memory")),
      ats_rejected_(stats_.counter("ats_rejected", "ATS requests refused: DTE without I, IOMMU off or bad request")),
      ppr_stats_("ppr", &stats_),
      ppr_requests_(ppr_stats_.counter("requests", "PRI Page Requests received (stop markers included)")),
      ppr_logged_(ppr_stats_.counter("logged", "entries written to the PPR log")),
      ppr_stop_markers_(ppr_stats_.counter("stop_markers", "stop markers received")),
      ppr_invalid_(
          ppr_stats_.counter("invalid", "requests refused with INVALID_PPR_REQUEST: DTE.V/PPR or PPREn clear")),
      ppr_dropped_(ppr_stats_.counter(
          "dropped", "requests not logged: IOMMU off, DTE error, log disabled, stopped or full, blocked stop marker")),
      ppr_overflows_(ppr_stats_.counter("overflows", "requests that found the PPR log full (PPROverflow)")) {
  upstream.register_b_transport(this, &AmdVi::up_b_transport);
  regs.register_b_transport(this, &AmdVi::regs_b_transport);
  // Also counted under inv.syncs, the summary's name for a queue's completion barrier.
  inv_stats_.derived("syncs", "COMPLETION_WAIT commands (summary name)", [this] {
    return static_cast<double>(cmd_waits_.v);
  });

  efr_ = (p.ppr_sup ? efr::PPR_SUP : 0) | (p.nx_sup ? efr::NX_SUP : 0) | (p.gt_sup ? efr::GT_SUP : 0) |
         (p.ia_sup ? efr::IA_SUP : 0) | efr::HATS.make(efr::hats_encode(static_cast<unsigned>(p.host_levels))) |
         efr::GATS.make(p.guest_levels - 4) |
         efr::GLX_SUP.make(gcr3::glx_for(efr::pasid_bits(static_cast<unsigned>(p.pas_max)))) |
         efr::PAS_MAX.make(p.pas_max) | (p.gio_sup ? efr::GIO_SUP : 0) | (p.ha_sup ? efr::HA_SUP : 0) |
         (p.hd_sup ? efr::HD_SUP : 0) | (p.ppr_sup ? efr::EPH_SUP : 0) |
         (p.ppr_sup && p.blk_stop_mrk_sup ? efr::BLK_STOP_MRK_SUP : 0);
  SC_THREAD(cmd_thread);
  SC_THREAD(ppr_thread);
}

void AmdVi::fail(tlm::tlm_generic_payload& gp, IoStatus st) {
  gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (auto* x = gp.get_extension<PcieExt>()) x->status = st;
}

void AmdVi::up_b_transport(int /*port*/, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  PcieExt* x = gp.get_extension<PcieExt>();
  if (x && (x->at != AddrType::Untranslated || x->msg != MsgKind::None)) return ats_transport(gp, *x, delay);
  ++transactions_;
  const sc_core::sc_time now = sim_now();  // nothing below waits
  sc_core::sc_time t = now + delay;
  const uint16_t devid = x ? x->rid : 0;
  const bool pasid_valid = x && x->pasid_valid;
  const uint32_t req_pasid = pasid_valid ? x->pasid : 0;
  const uint64_t va = gp.get_address();
  const bool write = gp.is_write();
  uint64_t pa = va;

  auto finish_fault = [&](Event& ev, bool record, IoStatus st) {
    ++faults_;
    if (record) record_event(ev, t);
    delay = t - now;
    fail(gp, st);
  };

  if (control_ & control::IOMMU_EN) {
    Event& ev = fault_ev_;
    const DevConfig* c = dev_config(devid, t, ev);
    if (!c) {
      if (ev.code == evt::ILLEGAL_DEV_TABLE_ENTRY) {
        ev.addr = va;
        ev.rw = write;
      }
      return finish_fault(ev, true, IoStatus::ConfigFault);
    }
    const Dte& d = c->dte;
    // Interrupt writes bypass translation; with IV = 1 they go through the interrupt remapping table.
    if (write && (va >> 20) == 0xFEE && !pasid_valid) {
      if (d.v && d.iv) {
        remap_interrupt(*c, gp, t);
        delay = t - now;
        return;
      }
    } else if (d.v && d.tv) {
      // Builds an IO_PAGE_FAULT for this request; DTE.SA suppresses the log entry.
      auto page_fault = [&](bool gn, uint32_t pasid, bool pr, bool pe, bool rz, uint64_t addr) {
        ev = Event{};
        ev.code = evt::IO_PAGE_FAULT;
        ev.device_id = devid;
        ev.gn = gn;
        if (gn) ev.pasid = pasid;
        else ev.domain_id = d.domain_id;
        ev.nx = x && x->er;
        ev.us = pasid_valid && !(x && x->pmr);
        ev.pr = pr;
        ev.rw = write;
        ev.pe = pe;
        ev.rz = rz;
        ev.addr = addr;
        finish_fault(ev, !d.sa, pe ? IoStatus::PermissionFault : IoStatus::TranslationFault);
      };
      const Found f = find_translation(*c, pasid_valid, req_pasid, va, write, t, ev);
      switch (f.kind) {
        case Found::HwError:
          return finish_fault(ev, true, IoStatus::TranslationFault);
        case Found::PageFault:
          // Nested, host level: a GN = 0 fault of the DomainID on the GPA the host table did not map.
          if (f.host) return page_fault(false, 0, f.pr, f.pe, f.rz, f.gpa);
          return page_fault(f.gn, req_pasid, f.pr, false, f.rz, va);
        case Found::Identity:
          if (write ? !d.iw : !d.ir) return page_fault(false, 0, true, true, false, va);
          ++bypassed_;
          break;
        case Found::Entry: {
          const TlbEntry* e = f.e;
          // Guest tables also check U/S: an unprivileged request needs a user page.
          const bool ok = (write ? e->perm.w && d.iw : e->perm.r && d.ir) && (!f.gn || (x && x->pmr) || e->perm.user);
          if (!ok && c->nested && f.gn) {
            const Found n = nested_denied(*c, req_pasid, va, write, x && x->pmr);
            if (n.host) return page_fault(false, 0, true, true, false, n.gpa);
          }
          if (!ok) return page_fault(f.gn, req_pasid, true, true, false, va);
          if (f.gn && x) x->walked = true;
          pa = e->pa | (va & ((uint64_t{1} << e->shift) - 1));
          break;
        }
      }
    } else {
      ++bypassed_;  // V = 0 or TV = 0: no translation information, the request passes untranslated
    }
  } else {
    ++bypassed_;
  }
  timeline::span(tl_, timeline::Cat::Translate, "translate", now + delay, t, va, devid, req_pasid);
  gp.set_address(pa);
  delay = t - now;
  mem->b_transport(gp, delay);
  gp.set_address(va);
}

AmdVi::Found AmdVi::find_translation(const DevConfig& c, bool pasid_valid, uint32_t pasid, uint64_t va, bool write,
                                     sc_core::sc_time& t, Event& ev) {
  const Dte& d = c.dte;
  Found f;
  WalkResult& wr = fault_walk_;
  if (d.gv && p_.gt_sup && (control_ & control::GT_EN) && (pasid_valid || d.giov)) {
    f.gn = true;
    const GuestConfig* g = guest_config(c, pasid, t, ev);
    if (!g) {
      f.kind = ev.code == evt::IO_PAGE_FAULT ? Found::PageFault : Found::HwError;
      f.rz = ev.rz;
      if (host_fault_) {  // nested: the host table did not translate a GCR3-table GPA
        f.host = true;
        f.pr = ev.pr;
        f.pe = ev.pe;
        f.gpa = ev.addr;
      }
      return f;
    }
    if (c.nested) return find_nested(c, *g, pasid, va, write, t, ev);
    if (c.v2.canonical(va)) f.e = core_.translate(TlbTag{d.domain_id, pasid}, false, c.v2, g->cr3, va, t, wr);
    else wr.fault = WalkFault::Translation;
    if (f.e) return f;
    const bool rz = c.v2.last_reserved();
    c.v2.clear_error();
    if (wr.fault == WalkFault::ExternalAbort) {
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
  if (pasid_valid) {
    // A PASID on a device without usable guest tables: no translation exists for it.
    f.gn = true;
    f.kind = Found::PageFault;
    return f;
  }
  if (d.mode == dte::MODE_NONE) {
    f.kind = Found::Identity;
    return f;
  }
  if (c.v1.va_in_range(va)) f.e = core_.translate(TlbTag{d.domain_id, 0}, true, c.v1, d.pt_root, va, t, wr);
  else wr.fault = WalkFault::Translation;
  if (f.e) return f;
  const pgtable::amdv1::Error err = c.v1.last_error();
  c.v1.clear_error();
  if (wr.fault == WalkFault::ExternalAbort) {
    ev = Event{};
    ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
    ev.device_id = c.devid;
    ev.domain_id = d.domain_id;
    ev.rw = write;
    ev.addr = va;
    f.kind = Found::HwError;
    return f;
  }
  // Not present: PR = 0. A malformed entry: present with RZ. Non-zero skipped-level bits: present.
  const bool not_present = err == pgtable::amdv1::Error::NotPresent || !c.v1.va_in_range(va);
  f.kind = Found::PageFault;
  f.pr = !not_present;
  f.rz = !not_present && err != pgtable::amdv1::Error::None;
  return f;
}

bool AmdVi::remap_interrupt(const DevConfig& c, tlm::tlm_generic_payload& gp, sc_core::sc_time& t) {
  const Dte& d = c.dte;
  const sc_core::sc_time now = sim_now();
  if (d.int_ctl == dte::INTCTL_ABORT) {
    ++aborted_;
    fail(gp, IoStatus::Aborted);
    return false;
  }
  uint32_t data = 0;
  std::memcpy(&data, gp.get_data_ptr(), std::min<unsigned>(4, gp.get_data_length()));
  const uint64_t va = gp.get_address();
  if (d.int_ctl == dte::INTCTL_REMAP) {
    auto io_fault = [&]() {
      ++faults_;
      if (!d.ig) {
        Event ev;
        ev.code = evt::IO_PAGE_FAULT;
        ev.device_id = c.devid;
        ev.domain_id = d.domain_id;
        ev.i = true;
        ev.rw = true;
        ev.addr = va;
        record_event(ev, t);
      }
      fail(gp, IoStatus::InterruptFault);
      return false;
    };
    const unsigned idx = irte::index(data);
    if (idx >= irt_entries(d)) return io_fault();
    const uint64_t key = (uint64_t{c.devid} << 11) | idx;
    auto same = [&](const IrteEntry& e) { return e.devid == c.devid && e.index == idx; };
    uint32_t raw = 0;
    if (const IrteEntry* e = irte_cache_.find(key, same)) {
      raw = e->raw;
    } else {
      const uint64_t irte_pa = d.int_table_root + uint64_t{idx} * 4;
      if (!mem_access(false, irte_pa, &raw, 4, t)) {
        ++faults_;
        Event ev;
        ev.code = evt::PAGE_TAB_HARDWARE_ERROR;
        ev.device_id = c.devid;
        ev.domain_id = d.domain_id;
        ev.i = true;
        ev.addr = irte_pa;
        record_event(ev, t);
        fail(gp, IoStatus::InterruptFault);
        return false;
      }
      irte_cache_.insert(key, IrteEntry{c.devid, static_cast<uint16_t>(idx), raw}, same);
    }
    const Irte e = decode_irte32(raw);
    if (!e.remap_en) {
      if (e.sup_iopf) {
        ++faults_;
        fail(gp, IoStatus::InterruptFault);
        return false;
      }
      return io_fault();
    }
    // Compatibility-format MSI: destination ID in address [19:12], DM in bit 2; vector and delivery mode
    // in the data.
    uint32_t out = e.vector | (uint32_t{e.int_type} << 8);
    const uint64_t addr = p_.irq_delivery_base | (uint64_t{e.destination & 0xFF} << 12) | (e.dm ? 4u : 0u);
    unsigned char* saved = gp.get_data_ptr();
    const unsigned saved_len = gp.get_data_length(), saved_sw = gp.get_streaming_width();
    gp.set_address(addr);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&out));
    gp.set_data_length(4);
    gp.set_streaming_width(4);
    sc_core::sc_time d2 = t - now;
    mem->b_transport(gp, d2);
    t = now + d2;
    gp.set_data_ptr(saved);
    gp.set_data_length(saved_len);
    gp.set_streaming_width(saved_sw);
    gp.set_address(va);
    ++interrupts_;
    timeline::instant(tl_, timeline::Cat::Irq, "interrupt remapped", t, c.devid, e.vector, e.destination);
    return true;
  }
  // IntCtl forward: the interrupt passes unmapped.
  ++bypassed_;
  sc_core::sc_time d2 = t - now;
  mem->b_transport(gp, d2);
  t = now + d2;
  return true;
}

bool AmdVi::mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t) {
  return iommu_mem_access(*mem[0], pool_, write, pa, data, len, t);
}

void AmdVi::record_event(const Event& e, sc_core::sc_time t) {
  timeline::instant(tl_, timeline::Cat::Fault, event_name(e.code), t, e.addr, e.device_id, e.code);
  uint64_t rec[EVENT_QWORDS];
  encode(e, rec);
  log_event(e.code, rec, t);
}

void AmdVi::log_event(uint8_t code, const uint64_t rec[EVENT_QWORDS], sc_core::sc_time t) {
  if (code < events_by_code_.size()) {
    if (!events_by_code_[code]) events_by_code_[code] = &evt_stats_.counter(event_name(code), "events of this code");
    ++*events_by_code_[code];
  }
  const unsigned len = static_cast<unsigned>(ring::LEN.get(event_base_));
  if (!(control_ & control::EVENT_LOG_EN) || !event_run_ || !ring::len_valid(len)) {
    ++events_lost_;
    return;
  }
  if (ring::full(event_head_, event_tail_, len)) {
    // Overflow: the entry is dropped and logging stops until software re-enables it (EventLogEn 0 -> 1).
    status_ |= status::EVENT_OVERFLOW;
    event_run_ = false;
    ++events_lost_;
    if (control_ & control::EVENT_INT_EN) event_irq_.notify(after_now(t));
    return;
  }
  // The entry write runs beside the faulting transaction: it does not delay the DMA's response.
  uint64_t buf[EVENT_QWORDS] = {rec[0], rec[1]};
  mem_access(true, (event_base_ & ring::BASE_MASK) + event_tail_, buf, sizeof buf, t);
  event_tail_ = ring::next(event_tail_, len);
  ++events_;
  status_ |= status::EVENT_LOG_INT;
  if (control_ & control::EVENT_INT_EN) event_irq_.notify(after_now(t));
}

}  // namespace iommusim::amdvi
