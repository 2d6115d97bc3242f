// SMMUv3 PRI (IHI 0070 chapter 8, IDR0.PRI): PCIe Page Requests written into the PRI queue in
// memory (PRIQ_BASE/PROD/CONS), overflow with automatic PRG Responses (8.1), the error and disabled
// cases (8.2), and CMD_PRI_RESP sending the PRG Response through the ATS agent.
#include <cstring>
#include <iterator>

#include "models/common/sim_time.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/pcie/pri_defs.h"

namespace iommusim::smmuv3 {

namespace {
constexpr uint8_t kSuccess = static_cast<uint8_t>(pri::Response::Success);
constexpr uint8_t kInvalid = static_cast<uint8_t>(pri::Response::InvalidRequest);
constexpr uint8_t kFailure = static_cast<uint8_t>(pri::Response::ResponseFailure);
}  // namespace

SmmuV3::PriStats::PriStats(StatGroup& parent)
    : g("priq", &parent),
      requests(g.counter("requests", "PCIe Page Requests received (stop markers included)")),
      queued(g.counter("queued", "entries written to the PRI queue")),
      stop_markers(g.counter("stop_markers", "stop markers received")),
      dropped(g.counter("dropped", "page requests discarded: overflow, queue disabled or in error, entry write failed")),
      overflows(g.counter("overflows", "page requests that found the queue full and toggled PRIQ_PROD.OVFLG")),
      auto_success(g.counter("auto_success", "PRG Responses Success sent by the SMMU for last requests discarded in "
                                             "overflow")),
      auto_failure(g.counter("auto_failure", "PRG Responses Response Failure sent by the SMMU (queue disabled or in "
                                             "error)")),
      responses(g.counter("responses", "CMD_PRI_RESP commands executed (PRG Responses sent)")),
      responses_no_device(g.counter("responses_no_device", "CMD_PRI_RESP naming a StreamID the ATS agent does not "
                                                           "reach: nothing sent")) {}

// Posted: accepted at once, handled in arrival order by priq_thread.
void SmmuV3::page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay) {
  if (!gp.is_write() || gp.get_data_length() != 8) {
    gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  uint64_t body = 0;
  std::memcpy(&body, gp.get_data_ptr(), 8);
  const pri::PageRequest r = pri::decode_page_request(body);
  timeline::instant(tl_, timeline::Cat::PageRequest, "page request received", sim_now() + delay, r.addr, r.prg_index,
                    x.pasid);
  PriMsg m;
  PriEntry& e = m.e;
  e.sid = x.rid;  // StreamID[15:0] = RequesterID
  e.ssv = x.pasid_valid && p_.ssid_bits > 0;
  e.ssid = e.ssv ? x.pasid : 0;
  e.priv = e.ssv && x.pmr;  // X and Priv exist only with a PASID
  e.exec = e.ssv && x.er;
  e.read = r.read;
  e.write = r.write;
  e.last = r.last;
  e.prg_index = r.prg_index;
  e.addr = r.addr;
  // A Stop Marker carries a PASID; without one, L/W/R = 100 is an ordinary page request.
  m.stop = e.ssv && r.stop_marker();
  m.arrived = sim_now() + delay;
  ++pri_stats_->requests;
  if (m.stop) ++pri_stats_->stop_markers;
  auto it = pri_in_.end();
  while (it != pri_in_.begin() && std::prev(it)->arrived > m.arrived) --it;
  pri_in_.insert(it, m);
  pri_kick_.notify(sc_core::SC_ZERO_TIME);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

void SmmuV3::priq_thread() {
  for (;;) {
    while (pri_in_.empty()) wait(pri_kick_);
    const PriMsg m = pri_in_.front();
    pri_in_.pop_front();
    handle_page_request(m);
  }
}

void SmmuV3::handle_page_request(const PriMsg& m) {
  PriStats& st = *pri_stats_;
  // Registers are read as they are when the request arrives.
  if (m.arrived > sim_now()) wait(m.arrived - sim_now());
  sc_core::sc_time t = sim_now();
  const PriEntry& e = m.e;
  const bool respond = e.last && !m.stop;  // the SMMU never answers a stop marker
  // 8.2: queue disabled (SMMUEN clear implies PRIQEN clear) or PRIQ_ABT_ERR active.
  if (!(cr0_ & cr0::SMMUEN) || !(cr0_ & cr0::PRIQEN) || ((gerror_ ^ gerrorn_) & gerror::PRIQ_ABT_ERR)) {
    ++st.dropped;
    if (respond) pri_auto_response(e, false, kFailure, t);
    return;
  }
  const unsigned log2 = static_cast<unsigned>(qbase::LOG2SIZE.get(priq_base_));
  // 8.1: a full queue starts an overflow; while it is unacknowledged nothing is written.
  bool overflow = (priq_prod_ ^ priq_cons_) & qreg::OVFLG;
  if (!overflow && queue_full(priq_prod_, priq_cons_, log2)) {
    priq_prod_ ^= qreg::OVFLG;
    overflow = true;
    ++st.overflows;
  }
  if (overflow) {
    ++st.dropped;
    if (respond) pri_auto_response(e, e.ssv, kSuccess, t);  // IDR3.PPS = 1: the request's PASID
    return;
  }
  // The write is issued when it happens, so it does not hold the memory channel ahead of others.
  t += priq_latency_;
  if (t > sim_now()) wait(t - sim_now());
  uint64_t rec[PRI_DWORDS];
  encode(e, rec);
  const uint64_t addr = (priq_base_ & qbase::ADDR_MASK) + uint64_t{queue_index(priq_prod_, log2)} * 16;
  if (!mem_access(true, addr, rec, sizeof rec, t)) {
    // A synchronous external abort: PRIQ_ABT_ERR, and the request is answered Response Failure.
    gerror_ ^= gerror::PRIQ_ABT_ERR;
    ++st.dropped;
    if (respond) pri_auto_response(e, false, kFailure, t);
    return;
  }
  // PROD moves once the entry has landed, so software polling PROD never reads it early.
  if (t > sim_now()) wait(t - sim_now());
  priq_prod_ = queue_inc(priq_prod_, log2);
  ++st.queued;
  priq_irq_.notify(sc_core::SC_ZERO_TIME);
}

void SmmuV3::pri_auto_response(const PriEntry& e, bool with_pasid, uint8_t code, sc_core::sc_time t) {
  ++(code == kSuccess ? pri_stats_->auto_success : pri_stats_->auto_failure);
  ats_.prg_response(static_cast<uint16_t>(e.sid), with_pasid, with_pasid ? e.ssid : 0, e.prg_index, code, t);
}

// CMD_PRI_RESP Resp 0b11 is ILLEGAL (only with PRI: without it the command stays accepted and ignored).
bool SmmuV3::pri_resp_illegal(const uint64_t* raw) const {
  return p_.pri && decode_cmd(raw).resp == 3;
}

// CMD_PRI_RESP: Resp 0b00 Response Failure, 0b01 Invalid Request, 0b10 Success; a PASID prefix when SSV
// is set and substreams are supported; ignored with SMMUEN clear (4.5.2).
void SmmuV3::pri_resp(const Cmd& c, sc_core::sc_time& t) {
  if (!(cr0_ & cr0::SMMUEN)) return;
  const uint8_t code = c.resp == pri_resp::SUCCESS ? kSuccess : c.resp == pri_resp::INVALID ? kInvalid : kFailure;
  const bool pv = c.ssv && p_.ssid_bits > 0;
  ++pri_stats_->responses;
  if (!ats_.prg_response(static_cast<uint16_t>(c.sid), pv, pv ? c.ssid : 0, c.prg_index, code, t)) {
    ++pri_stats_->responses_no_device;
    return;
  }
  if (sim_now() > t) t = sim_now();
}

// PRIQ_BASE, PRIQ_PROD/CONS (page 1) and PRIQ_IRQ_CFG0-2; RES0 without PRI.
uint32_t SmmuV3::pri_reg_read(uint32_t off) const {
  if (!p_.pri) return 0;
  switch (off) {
    case reg::PRIQ_BASE: return static_cast<uint32_t>(priq_base_);
    case reg::PRIQ_BASE + 4: return static_cast<uint32_t>(priq_base_ >> 32);
    case reg::PRIQ_PROD: return priq_prod_;
    case reg::PRIQ_CONS: return priq_cons_;
    case reg::PRIQ_IRQ_CFG0: return static_cast<uint32_t>(priq_irq_cfg0_);
    case reg::PRIQ_IRQ_CFG0 + 4: return static_cast<uint32_t>(priq_irq_cfg0_ >> 32);
    case reg::PRIQ_IRQ_CFG1: return priq_irq_cfg1_;
    case reg::PRIQ_IRQ_CFG2: return priq_irq_cfg2_;
    default: return 0;
  }
}

void SmmuV3::pri_reg_write(uint32_t off, uint64_t v, unsigned len) {
  if (!p_.pri) return;
  auto set64 = [&](uint64_t& r, uint32_t base) {
    if (len == 8 && off == base) r = v;
    else if (off == base) r = (r & ~uint64_t{0xFFFFFFFF}) | (v & 0xFFFFFFFF);
    else r = (r & 0xFFFFFFFF) | (v << 32);
  };
  const uint32_t v32 = static_cast<uint32_t>(v);
  switch (off) {
    case reg::PRIQ_BASE:
    case reg::PRIQ_BASE + 4: set64(priq_base_, reg::PRIQ_BASE); break;
    case reg::PRIQ_PROD: priq_prod_ = v32; break;  // software initialises it while the queue is disabled
    case reg::PRIQ_CONS: priq_cons_ = v32; break;  // RD and OVACKFLG
    case reg::PRIQ_IRQ_CFG0:
    case reg::PRIQ_IRQ_CFG0 + 4: set64(priq_irq_cfg0_, reg::PRIQ_IRQ_CFG0); break;
    case reg::PRIQ_IRQ_CFG1: priq_irq_cfg1_ = v32; break;
    case reg::PRIQ_IRQ_CFG2: priq_irq_cfg2_ = v32; break;
    default: break;
  }
}

}  // namespace iommusim::smmuv3
