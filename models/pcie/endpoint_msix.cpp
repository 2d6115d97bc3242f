// The endpoint's MSI-X capability: table, pending bits, masking, and the MSI writes themselves.
#include <cstring>

#include "models/common/sim_time.h"
#include "models/pcie/endpoint.h"

namespace iommusim {

Endpoint::MsixStats::MsixStats(StatGroup& parent)
    : g("msix", &parent),
      raised(g.counter("raised", "interrupt events on an MSI-X vector")),
      sent(g.counter("sent", "MSI writes sent upstream")),
      pended(g.counter("pended", "events that found their vector or the function masked (pending bit set)")),
      faulted(g.counter("faulted", "MSI writes that came back with an error (reported lost)")),
      disabled(g.counter("disabled", "events dropped because MSI-X was not enabled")) {}

void Endpoint::msix_setup() {
  msix_.assign(p_.msix.vectors, MsixVector{});
  msix_ctrl_ = static_cast<uint16_t>(p_.msix.vectors - 1);
  msix_latency_ = to_sc(p_.msix.latency);
  msix_stats_ = std::make_unique<MsixStats>(stats_);
  SC_THREAD(msix_process);
}

uint64_t Endpoint::msi_sent() const { return msix_stats_ ? msix_stats_->sent.v : 0; }

bool Endpoint::raise_msi(uint16_t v) {
  if (v >= msix_.size()) return false;
  msix_raise_at(v, sim_now());
  return true;
}

// The MSI-X registers (dma_job.h); false: not one of them (or a wrong size), or no capability.
bool Endpoint::msix_register(tlm::tlm_generic_payload& gp) {
  if (msix_.empty()) return false;
  const uint64_t a = gp.get_address();
  const unsigned len = gp.get_data_length();
  uint32_t v = 0;
  if (a == kMsixControlOffset && len == 2) {
    if (gp.is_write()) {
      std::memcpy(&v, gp.get_data_ptr(), 2);
      const uint16_t size = static_cast<uint16_t>(msix_.size() - 1);
      msix_ctrl_ = static_cast<uint16_t>((v & (kMsixControlEnable | kMsixControlFunctionMask)) | size);
      msix_unmasked();
    } else {
      std::memcpy(gp.get_data_ptr(), &msix_ctrl_, 2);
    }
    return true;
  }
  if (a == kMsixTriggerOffset && len == 4 && gp.is_write()) {
    std::memcpy(&v, gp.get_data_ptr(), 4);
    if (v >= msix_.size()) return false;
    msix_raise_at(static_cast<uint16_t>(v), sim_now());
    return true;
  }
  if (a >= kMsixTableOffset && a < kMsixTableOffset + 16 * msix_.size() && len == 4 && a % 4 == 0) {
    MsixVector& e = msix_[(a - kMsixTableOffset) / 16];
    uint32_t* field[] = {&e.addr_lo, &e.addr_hi, &e.data, &e.ctrl};
    uint32_t& f = *field[(a % 16) / 4];
    if (gp.is_write()) {
      std::memcpy(&v, gp.get_data_ptr(), 4);
      // Message Address [1:0] are reserved (DWORD aligned); Vector Control keeps only the mask bit.
      if (&f == &e.addr_lo) v &= ~3u;
      if (&f == &e.ctrl) v &= kMsixVectorMasked;
      f = v;
      if (&f == &e.ctrl) msix_unmasked();
    } else {
      std::memcpy(gp.get_data_ptr(), &f, 4);
    }
    return true;
  }
  if (a >= kMsixPbaOffset && a < kMsixPbaOffset + 8 * ((msix_.size() + 63) / 64) && len == 8 && a % 8 == 0 &&
      gp.is_read()) {
    uint64_t bits = 0;
    const size_t first = (a - kMsixPbaOffset) / 8 * 64;
    for (size_t i = first; i < msix_.size() && i < first + 64; ++i)
      if (msix_[i].pending) bits |= uint64_t{1} << (i - first);
    std::memcpy(gp.get_data_ptr(), &bits, 8);
    return true;
  }
  return false;
}

void Endpoint::msix_raise_at(uint16_t v, const sc_core::sc_time& at) {
  ++msix_stats_->raised;
  if (!(msix_ctrl_ & kMsixControlEnable)) {
    ++msix_stats_->disabled;
    return;
  }
  if ((msix_ctrl_ & kMsixControlFunctionMask) || (msix_[v].ctrl & kMsixVectorMasked)) {
    if (!msix_[v].pending) ++msix_stats_->pended;
    msix_[v].pending = true;  // one pending bit: events while it is set merge (PCIe)
    return;
  }
  msix_q_.push_back({v, at + msix_latency_});
  msix_kick_.notify(sc_core::SC_ZERO_TIME);
}

// After a write that may have unmasked vectors: each pending, now unmasked vector is sent.
void Endpoint::msix_unmasked() {
  if (!(msix_ctrl_ & kMsixControlEnable) || (msix_ctrl_ & kMsixControlFunctionMask)) return;
  for (size_t i = 0; i < msix_.size(); ++i)
    if (msix_[i].pending && !(msix_[i].ctrl & kMsixVectorMasked)) {
      msix_[i].pending = false;
      msix_q_.push_back({static_cast<uint16_t>(i), sim_now() + msix_latency_});
      msix_kick_.notify(sc_core::SC_ZERO_TIME);
    }
}

void Endpoint::msix_process() {
  for (;;) {
    while (msix_q_.empty()) wait(msix_kick_);
    const MsixEvent e = msix_q_.front();
    msix_q_.pop_front();
    if (e.at > sim_now()) wait(e.at - sim_now());
    msix_send(e.vector, e.at);
  }
}

// One MSI write: the vector's data to its address, as a posted memory write without PASID.
void Endpoint::msix_send(uint16_t v, const sc_core::sc_time& at) {
  const MsixVector& e = msix_[v];
  PcieExt* xp;
  tlm::tlm_generic_payload* gp = pool_.acquire(xp);
  msix_buf_ = e.data;
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(uint64_t{e.addr_hi} << 32 | e.addr_lo);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&msix_buf_));
  gp->set_data_length(4);
  gp->set_streaming_width(4);
  xp->rid = rid_;
  msix_tag_ = MsiTag{};
  msix_tag_.src_rid = rid_;
  msix_tag_.vector = v;
  msix_tag_.seq = ++msix_seq_;
  msix_tag_.issued = at;
  gp->set_extension(&msix_tag_);
  ++msix_stats_->sent;
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  dma->b_transport(*gp, delay);
  if (!gp->is_response_ok()) {
    ++msix_stats_->faulted;
    if (irq_sink_)
      irq_sink_->lost(xp->status == IoStatus::InterruptFault ? IrqLoss::RemapFault : IrqLoss::DmaFault, &msix_tag_,
                      sim_now() + delay);
  }
  gp->clear_extension(&msix_tag_);
  gp->release();
}

}  // namespace iommusim
