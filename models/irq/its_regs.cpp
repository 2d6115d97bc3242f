// ITS control frame: MMIO reads and writes from the host CPU.
#include <cstring>

#include "models/common/reg_file.h"
#include "models/irq/its.h"

namespace iommusim::its {

void Its::regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  reg32_transport(gp, delay, mmio_latency_, reg::FRAME_SIZE, [this](uint32_t off) { return reg_read(off); },
                  [this](uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& d) {
                    reg_write(off, v, len, d);
                  });
}

uint32_t Its::reg_read(uint32_t off) const {
  auto half = [&](uint64_t r, uint32_t base) { return static_cast<uint32_t>(off == base ? r : r >> 32); };
  const uint64_t typer = typer::PHYSICAL | typer::ITT_ENTRY_SIZE.make(p_.itt_entry_size - 1) |
                         typer::ID_BITS.make(p_.event_id_bits - 1) | typer::DEVBITS.make(p_.device_id_bits - 1);
  switch (off) {
    case reg::CTLR: return ctlr_ | (!(ctlr_ & ctlr::ENABLED) && !busy_ ? ctlr::QUIESCENT : 0);
    case reg::IIDR: return 0x43B;  // Implementer: Arm's JEP106 code; Revision, Variant, ProductID 0
    case reg::TYPER:
    case reg::TYPER + 4: return half(typer, reg::TYPER);
    case reg::CBASER:
    case reg::CBASER + 4: return half(cbaser_, reg::CBASER);
    case reg::CWRITER:
    case reg::CWRITER + 4: return half(cwriter_, reg::CWRITER);
    case reg::CREADR:
    case reg::CREADR + 4: return half(creadr_ | (stalled_ ? cq::STALLED : 0), reg::CREADR);
    case reg::PROPBASER:
    case reg::PROPBASER + 4: return half(propbaser_, reg::PROPBASER);
    case reg::PIDR2: return PIDR2_ARCHREV_GICV3;
    default:
      if (off >= reg::BASER0 && off < reg::BASER0 + 8 * reg::BASER_COUNT) {
        const unsigned n = (off - reg::BASER0) / 8;
        return half(baser_[n], reg::BASER0 + 8 * n);
      }
      return 0;  // reserved and unimplemented registers read as zero
  }
}

void Its::reg_write(uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& delay) {
  auto set64 = [&](uint64_t& r, uint32_t base) {
    if (len == 8) r = v;
    else if (off == base) r = (r & ~uint64_t{0xFFFFFFFF}) | (v & 0xFFFFFFFF);
    else r = (r & 0xFFFFFFFF) | (v << 32);
  };
  const bool enabled = ctlr_ & ctlr::ENABLED;
  switch (off) {
    case reg::CTLR:
      ctlr_ = static_cast<uint32_t>(v) & ctlr::ENABLED;
      if (ctlr_ && !enabled) kick_.notify(delay);
      return;
    case reg::CBASER:
    case reg::CBASER + 4:
      if (enabled) return;  // UNPREDICTABLE while enabled: ignored
      set64(cbaser_, reg::CBASER);
      creadr_ = 0;  // writing GITS_CBASER resets GITS_CREADR
      stalled_ = false;
      return;
    case reg::CWRITER:
    case reg::CWRITER + 4:
      if (off != reg::CWRITER) return;  // the upper half is RES0
      cwriter_ = v & cq::OFFSET_MASK;
      if (v & cq::RETRY) stalled_ = false;  // retry the command processing stalled on
      kick_.notify(delay);
      return;
    case reg::PROPBASER:
    case reg::PROPBASER + 4: set64(propbaser_, reg::PROPBASER); return;
    default:
      if (off >= reg::BASER0 && off < reg::BASER0 + 8 * reg::BASER_COUNT) {
        const unsigned n = (off - reg::BASER0) / 8;
        if (enabled || baser::TYPE.get(baser_[n]) == baser::TYPE_NONE) return;  // unimplemented: RAZ/WI
        const uint64_t ro = baser::TYPE.mask() | baser::ENTRY_SIZE.mask();
        uint64_t w = baser_[n];
        set64(w, reg::BASER0 + 8 * n);
        w &= ~baser::INDIRECT;  // flat tables only
        baser_[n] = (baser_[n] & ro) | (w & ~ro);
      }
      return;  // read-only and unimplemented registers ignore writes
  }
}

}  // namespace iommusim::its
