// VT-d register file: MMIO reads and writes from the host CPU, register-based invalidation, fault recording.
#include "models/iommu/vtd/vtd.h"

#include <cstring>

#include "models/common/sim_time.h"

namespace iommusim::vtd {
namespace {

constexpr uint32_t kFrcdBase = kFro * 16;

uint32_t lo(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
void set_lo(uint64_t& r, uint32_t v) { r = (r & ~uint64_t{0xFFFFFFFF}) | v; }
void set_hi(uint64_t& r, uint32_t v) { r = (r & 0xFFFFFFFF) | (uint64_t{v} << 32); }

}  // namespace

void VtdIommu::regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  const uint64_t addr = gp.get_address();
  const unsigned len = gp.get_data_length();
  delay += mmio_latency_;
  if ((len != 4 && len != 8) || addr % len != 0 || addr >= kRegSpace) {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint32_t off = static_cast<uint32_t>(addr);
  if (gp.is_read()) {
    uint64_t v = reg_read(off);
    if (len == 8) v |= uint64_t{reg_read(off + 4)} << 32;
    std::memcpy(gp.get_data_ptr(), &v, len);
  } else {
    // A 64-bit write is its low then its high dword: command bits (ICC, IVT, F) sit in the high one.
    uint64_t v = 0;
    std::memcpy(&v, gp.get_data_ptr(), len);
    reg_write(off, lo(v), delay);
    if (len == 8) reg_write(off + 4, hi(v), delay);
  }
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

uint32_t VtdIommu::fsts_value() const {
  uint32_t v = fsts_;
  const unsigned n = static_cast<unsigned>(frcd_.size());
  for (unsigned i = 0; i < n; ++i) {
    const unsigned k = (fr_next_ + i) % n;  // the oldest pending record follows the write pointer
    if (frcd_[k][1] & bit(63)) {
      v |= fsts::PPF | static_cast<uint32_t>(fsts::FRI.make(k));
      break;
    }
  }
  return v;
}

uint32_t VtdIommu::reg_read(uint32_t off) {
  if (off >= kFrcdBase && off < kFrcdBase + frcd_.size() * 16) {
    const auto& r = frcd_[(off - kFrcdBase) / 16];
    const unsigned w = (off % 16) / 4;
    return w & 1 ? hi(r[w / 2]) : lo(r[w / 2]);
  }
  if (off >= iva_off_ && off < iva_off_ + 16) {  // IVA, IOTLB_REG
    const uint64_t r = off < iva_off_ + 8 ? iva_ : iotlb_reg_;
    return off % 8 ? hi(r) : lo(r);
  }
  switch (off) {
    case reg::VER: return static_cast<uint32_t>(ver::MAX.make(1));  // what Linux prints as "ver 1:0"
    case reg::CAP: return lo(cap_);
    case reg::CAP + 4: return hi(cap_);
    case reg::ECAP: return lo(ecap_);
    case reg::ECAP + 4: return hi(ecap_);
    case reg::GSTS: return gsts_;
    case reg::RTADDR: return lo(rtaddr_);
    case reg::RTADDR + 4: return hi(rtaddr_);
    case reg::CCMD: return lo(ccmd_);
    case reg::CCMD + 4: return hi(ccmd_);
    case reg::FSTS: return fsts_value();
    case reg::FECTL: return fectl_;
    case reg::FEDATA: return fedata_;
    case reg::FEADDR: return feaddr_;
    case reg::FEUADDR: return feuaddr_;
    case reg::IQH: return lo(iqh_);
    case reg::IQH + 4: return hi(iqh_);
    case reg::IQT: return lo(iqt_);
    case reg::IQT + 4: return hi(iqt_);
    case reg::IQA: return lo(iqa_);
    case reg::IQA + 4: return hi(iqa_);
    case reg::ICS: return ics_;
    case reg::IECTL: return iectl_;
    case reg::IEDATA: return iedata_;
    case reg::IEADDR: return ieaddr_;
    case reg::IEUADDR: return ieuaddr_;
    case reg::IQERCD: return lo(iqercd_);
    case reg::IQERCD + 4: return hi(iqercd_);
    case reg::IRTA: return lo(irta_);
    case reg::IRTA + 4: return hi(irta_);
    default: break;
  }
  // Page request registers: RsvdZ without ECAP.PRS.
  if (!p_.page_requests) return 0;
  switch (off) {
    case reg::PQH: return lo(pqh_);
    case reg::PQH + 4: return hi(pqh_);
    case reg::PQT: return lo(pqt_);
    case reg::PQT + 4: return hi(pqt_);
    case reg::PQA: return lo(pqa_);
    case reg::PQA + 4: return hi(pqa_);
    case reg::PRS: return prs_;
    case reg::PECTL: return pectl_;
    case reg::PEDATA: return pedata_;
    case reg::PEADDR: return peaddr_;
    case reg::PEUADDR: return peuaddr_;
    default: return 0;  // GCMD is write-only; reserved and unimplemented registers read as zero
  }
}

void VtdIommu::reg_write(uint32_t off, uint32_t v, const sc_core::sc_time& delay) {
  if (off >= kFrcdBase && off < kFrcdBase + frcd_.size() * 16) {
    // F (bit 127) is write-1-to-clear; everything else in a recording register is read-only.
    if (off % 16 == 12 && (v & (1u << 31))) frcd_[(off - kFrcdBase) / 16][1] &= ~bit(63);
    return;
  }
  if (off >= iva_off_ && off < iva_off_ + 16) {
    uint64_t& r = off < iva_off_ + 8 ? iva_ : iotlb_reg_;
    if (off % 8) set_hi(r, v);
    else set_lo(r, v);
    // The invalidation runs when IVT (bit 63) is written.
    if (off == iva_off_ + 12 && (iotlb_reg_ & iotlb_reg::IVT)) iotlb_reg_execute();
    return;
  }
  switch (off) {
    case reg::GCMD: gcmd_write(v, delay); break;
    case reg::RTADDR: set_lo(rtaddr_, v); break;
    case reg::RTADDR + 4: set_hi(rtaddr_, v); break;
    case reg::CCMD: set_lo(ccmd_, v); break;
    case reg::CCMD + 4:
      set_hi(ccmd_, v);
      if (ccmd_ & ccmd::ICC) ccmd_execute();
      break;
    case reg::FSTS: {
      const uint32_t was = fsts_;
      fsts_ &= ~(v & fsts::RW1C);
      // Clearing IQE (the host fixed or replaced the bad descriptor) or ITE (the timed-out wait runs again)
      // lets the queue resume from IQH.
      constexpr uint32_t kStopped = fsts::IQE | fsts::ITE;
      if ((was & kStopped) && !(fsts_ & kStopped)) qi_kick_.notify(delay);
      break;
    }
    case reg::FECTL:
      fectl_ = (fectl_ & ectl::IP) | (v & ectl::IM);
      if (!(fectl_ & ectl::IM) && (fectl_ & ectl::IP)) {  // unmasked with an event pending: deliver it now
        fectl_ &= ~ectl::IP;
        fault_irq_.notify(delay);
      }
      break;
    case reg::FEDATA: fedata_ = v; break;
    case reg::FEADDR: feaddr_ = v; break;
    case reg::FEUADDR: feuaddr_ = v; break;
    case reg::IQT:
      iqt_ = v & IQ_OFFSET_MASK;
      qi_kick_.notify(delay);
      break;
    case reg::IQA: set_lo(iqa_, v); break;
    case reg::IQA + 4: set_hi(iqa_, v); break;
    case reg::ICS: ics_ &= ~(v & ics::IWC); break;
    case reg::IECTL:
      iectl_ = (iectl_ & ectl::IP) | (v & ectl::IM);
      if (!(iectl_ & ectl::IM) && (iectl_ & ectl::IP)) {
        iectl_ &= ~ectl::IP;
        inv_irq_.notify(delay);
      }
      break;
    case reg::IEDATA: iedata_ = v; break;
    case reg::IEADDR: ieaddr_ = v; break;
    case reg::IEUADDR: ieuaddr_ = v; break;
    case reg::IRTA: set_lo(irta_, v); break;
    case reg::IRTA + 4: set_hi(irta_, v); break;
    default: prq_reg_write(off, v, delay); break;  // page request registers; else read-only or unimplemented
  }
}

// Page request queue registers (RsvdZ without ECAP.PRS). Software owns PQH and initialises PQT; the
// offsets keep bits 18:5 (32-byte descriptors).
void VtdIommu::prq_reg_write(uint32_t off, uint32_t v, const sc_core::sc_time& delay) {
  if (!p_.page_requests) return;
  switch (off) {
    case reg::PQH: pqh_ = v & PQ_OFFSET_MASK; break;
    case reg::PQT: pqt_ = v & PQ_OFFSET_MASK; break;
    case reg::PQA: set_lo(pqa_, v & static_cast<uint32_t>(pqa::ADDR_MASK | pqa::PQS.mask())); break;
    case reg::PQA + 4: set_hi(pqa_, v); break;
    case reg::PRS:
      prs_ &= ~(v & (prs::PPR | prs::PRO));  // write 1 to clear
      if (!(prs_ & (prs::PPR | prs::PRO))) pectl_ &= ~ectl::IP;  // every pending condition serviced
      break;
    case reg::PECTL:
      pectl_ = (pectl_ & ectl::IP) | (v & ectl::IM);
      if (!(pectl_ & ectl::IM) && (pectl_ & ectl::IP)) {  // unmasked with an event pending: deliver it now
        pectl_ &= ~ectl::IP;
        prq_irq_.notify(delay);
      }
      break;
    case reg::PEDATA: pedata_ = v; break;
    case reg::PEADDR: peaddr_ = v; break;
    case reg::PEUADDR: peuaddr_ = v; break;
    default: break;
  }
}

void VtdIommu::gcmd_write(uint32_t v, const sc_core::sc_time& delay) {
  // Every command completes at once: GSTS reflects it by the time the CPU can read it back.
  constexpr uint32_t kPersistent = gcmd::TE | gcmd::QIE | gcmd::IRE | gcmd::CFI;
  uint32_t allowed = gcmd::TE | gcmd::QIE;
  if (p_.interrupt_remapping) allowed |= gcmd::IRE | gcmd::CFI;
  const uint32_t was = gsts_;
  gsts_ = (gsts_ & ~kPersistent) | (v & allowed);
  if (v & gcmd::SRTP) {  // latch the root table pointer and mode
    active_rtaddr_ = rtaddr_;
    gsts_ |= gsts::RTPS;
  }
  if ((v & gcmd::SIRTP) && p_.interrupt_remapping) {
    active_irta_ = irta_;
    gsts_ |= gsts::IRTPS;
  }
  if ((was ^ gsts_) & gsts::TES || (v & gcmd::SRTP)) forget_memo();
  if ((was & gsts::QIES) && !(gsts_ & gsts::QIES)) iqh_ = 0;  // disabling the queue resets its head
  if (!(was & gsts::QIES) && (gsts_ & gsts::QIES)) qi_kick_.notify(delay);
}

void VtdIommu::ccmd_execute() {
  ++inv_reg_;
  const uint8_t g = static_cast<uint8_t>(ccmd::CIRG.get(ccmd_));
  if (g >= gran::GLOBAL && g <= gran::DEVICE)
    inv_context(g, static_cast<uint16_t>(ccmd::DID.get(ccmd_)), static_cast<uint16_t>(ccmd::SID.get(ccmd_)),
                static_cast<uint8_t>(ccmd::FM.get(ccmd_)));
  // Done at once: ICC reads back clear, CAIG reports the granularity performed (0: request ignored).
  ccmd_ = ccmd::CAIG.put(ccmd_ & ~ccmd::ICC, g >= gran::GLOBAL && g <= gran::DEVICE ? g : 0);
}

void VtdIommu::iotlb_reg_execute() {
  ++inv_reg_;
  const uint8_t g = static_cast<uint8_t>(iotlb_reg::IIRG.get(iotlb_reg_));
  uint8_t done = 0;
  if (g >= gran::GLOBAL && g <= gran::PAGE)
    done = inv_iotlb(g, static_cast<uint16_t>(iotlb_reg::DID.get(iotlb_reg_)), static_cast<uint8_t>(iva::AM.get(iva_)),
                     (iva_ & iva::IH) != 0, iva_ & iva::ADDR_MASK);
  iotlb_reg_ = iotlb_reg::IAIG.put(iotlb_reg_ & ~iotlb_reg::IVT, done);
}

void VtdIommu::record_fault(const FaultRecord& r, sc_core::sc_time t) {
  if (fsts_ & fsts::PFO) {  // overflow pending: nothing more is recorded until software clears it
    ++faults_lost_;
    return;
  }
  auto& slot = frcd_[fr_next_];
  if (slot[1] & bit(63)) {  // the next register still holds an unserviced fault
    fsts_ |= fsts::PFO;
    ++faults_lost_;
    fault_event(t);
    return;
  }
  const bool pending = fsts_value() & fsts::PPF;
  FaultRecord rec = r;
  rec.f = true;
  encode(rec, slot.data());
  fr_next_ = (fr_next_ + 1) % static_cast<unsigned>(frcd_.size());
  ++faults_recorded_;
  if (!pending) fault_event(t);
}

void VtdIommu::fault_event(sc_core::sc_time t) {
  if (fectl_ & ectl::IM) {
    fectl_ |= ectl::IP;  // held until software unmasks
    return;
  }
  const sc_core::sc_time now = sim_now();
  fault_irq_.notify(t > now ? t - now : sc_core::SC_ZERO_TIME);
}

}  // namespace iommusim::vtd
