// SMMUv3 register file: MMIO reads and writes from the host CPU.
#include "models/iommu/smmuv3/smmuv3.h"

#include <cstring>

#include "models/common/reg_file.h"

namespace iommusim::smmuv3 {

void SmmuV3::regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  reg32_transport(gp, delay, mmio_latency_, reg::SPACE_SIZE, [this](uint32_t off) { return reg_read(off); },
                  [this](uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& d) {
                    reg_write(off, v, len, d);
                  });
}

uint32_t SmmuV3::reg_read(uint32_t off) const {
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  switch (off) {
    case reg::IDR0: return idr_[0];
    case reg::IDR1: return idr_[1];
    case reg::IDR2: return idr_[2];
    case reg::IDR3: return idr_[3];
    case reg::IDR4: return idr_[4];
    case reg::IDR5: return idr_[5];
    case reg::CR0: return cr0_;
    case reg::CR0ACK: return cr0_;  // updates are acknowledged at once
    case reg::CR1: return cr1_;
    case reg::CR2: return cr2_;
    case reg::GBPA: return gbpa_;
    case reg::IRQ_CTRL:
    case reg::IRQ_CTRLACK: return irq_ctrl_;
    case reg::GERROR: return gerror_;
    case reg::GERRORN: return gerrorn_;
    case reg::STRTAB_BASE: return lo(strtab_base_);
    case reg::STRTAB_BASE + 4: return hi(strtab_base_);
    case reg::STRTAB_BASE_CFG: return strtab_cfg_;
    case reg::CMDQ_BASE: return lo(cmdq_base_);
    case reg::CMDQ_BASE + 4: return hi(cmdq_base_);
    case reg::CMDQ_PROD: return cmdq_prod_;
    case reg::CMDQ_CONS: return cmdq_cons_;
    case reg::EVENTQ_BASE: return lo(eventq_base_);
    case reg::EVENTQ_BASE + 4: return hi(eventq_base_);
    case reg::EVENTQ_PROD: return eventq_prod_;
    case reg::EVENTQ_CONS: return eventq_cons_;
    case reg::EVENTQ_IRQ_CFG0: return lo(eventq_irq_cfg0_);
    case reg::EVENTQ_IRQ_CFG0 + 4: return hi(eventq_irq_cfg0_);
    case reg::EVENTQ_IRQ_CFG1: return eventq_irq_cfg1_;
    default: return pri_reg_read(off);  // PRI queue registers; RES0 / unimplemented registers read as zero
  }
}

void SmmuV3::reg_write(uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& delay) {
  auto set64 = [&](uint64_t& r, uint32_t base) {
    if (len == 8 && off == base) r = v;
    else if (off == base) r = (r & ~uint64_t{0xFFFFFFFF}) | (v & 0xFFFFFFFF);
    else r = (r & 0xFFFFFFFF) | (v << 32);
  };
  const uint32_t v32 = static_cast<uint32_t>(v);
  switch (off) {
    case reg::CR0: {
      const uint32_t was = cr0_;
      cr0_ = v32;
      if ((cr0_ & cr0::CMDQEN) && !(was & cr0::CMDQEN)) cmdq_kick_.notify(delay);
      break;
    }
    case reg::CR1: cr1_ = v32; break;
    case reg::CR2: cr2_ = v32; break;
    case reg::GBPA: gbpa_ = v32 & ~gbpa::UPDATE; break;  // the update completes at once
    case reg::IRQ_CTRL: irq_ctrl_ = v32; break;
    case reg::GERRORN:
      gerrorn_ = v32;
      // Acknowledging CMDQ_ERR lets the queue resume from CONS (the host fixed or skipped the command).
      if (!((gerror_ ^ gerrorn_) & gerror::CMDQ_ERR)) cmdq_kick_.notify(delay);
      break;
    case reg::STRTAB_BASE:
    case reg::STRTAB_BASE + 4: set64(strtab_base_, reg::STRTAB_BASE); break;
    case reg::STRTAB_BASE_CFG: strtab_cfg_ = v32; break;
    case reg::CMDQ_BASE:
    case reg::CMDQ_BASE + 4: set64(cmdq_base_, reg::CMDQ_BASE); break;
    case reg::CMDQ_PROD:
      cmdq_prod_ = v32;
      cmdq_kick_.notify(delay);
      break;
    case reg::CMDQ_CONS: cmdq_cons_ = v32; break;  // only meaningful while the queue is disabled
    case reg::EVENTQ_BASE:
    case reg::EVENTQ_BASE + 4: set64(eventq_base_, reg::EVENTQ_BASE); break;
    case reg::EVENTQ_PROD: eventq_prod_ = v32; break;
    case reg::EVENTQ_CONS: eventq_cons_ = v32; break;
    case reg::EVENTQ_IRQ_CFG0:
    case reg::EVENTQ_IRQ_CFG0 + 4: set64(eventq_irq_cfg0_, reg::EVENTQ_IRQ_CFG0); break;
    case reg::EVENTQ_IRQ_CFG1: eventq_irq_cfg1_ = v32; break;
    default: pri_reg_write(off, v, len); break;  // PRI queue registers; others read-only or unimplemented
  }
}

}  // namespace iommusim::smmuv3
