// AMD-Vi register file: 64-bit MMIO registers, accessed as 8 bytes or as 4-byte halves.
#include "models/iommu/amdvi/amdvi.h"

#include <cstring>

namespace iommusim::amdvi {

void AmdVi::regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  const uint64_t addr = gp.get_address();
  const unsigned len = gp.get_data_length();
  delay += mmio_latency_;
  if ((len != 4 && len != 8) || addr % len != 0 || addr >= reg::SPACE_SIZE) {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint32_t base = static_cast<uint32_t>(addr & ~uint64_t{7});
  const unsigned shift = (addr & 4) ? 32 : 0;
  const uint64_t cur = reg_read(base);
  if (gp.is_read()) {
    const uint64_t v = len == 8 ? cur : (cur >> shift) & 0xFFFFFFFFull;
    std::memcpy(gp.get_data_ptr(), &v, len);
  } else {
    uint64_t v = 0;
    std::memcpy(&v, gp.get_data_ptr(), len);
    uint64_t nv;
    if (len == 8) nv = v;
    else if (base == reg::STATUS) nv = v << shift;  // write-1-to-clear: the other half writes nothing
    else nv = (cur & ~(0xFFFFFFFFull << shift)) | (v << shift);
    reg_write(base, nv, delay);
  }
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

uint64_t AmdVi::reg_read(uint32_t off) const {
  switch (off) {
    case reg::DEV_TAB_BASE: return devtab_base_;
    case reg::CMD_BUF_BASE: return cmd_base_;
    case reg::EVENT_LOG_BASE: return event_base_;
    case reg::CONTROL: return control_;
    case reg::EXCL_BASE: return excl_base_;
    case reg::EXCL_LIMIT: return excl_limit_;
    case reg::EXT_FEATURE: return efr_;
    case reg::PPR_LOG_BASE: return ppr_base_;
    case reg::CMD_BUF_HEAD: return cmd_head_;
    case reg::CMD_BUF_TAIL: return cmd_tail_;
    case reg::EVENT_LOG_HEAD: return event_head_;
    case reg::EVENT_LOG_TAIL: return event_tail_;
    case reg::STATUS:
      return status_ | (event_run_ ? status::EVENT_LOG_RUN : 0) | (cmd_run_ ? status::CMD_BUF_RUN : 0) |
             (ppr_run_ ? status::PPR_LOG_RUN : 0);
    case reg::PPR_LOG_HEAD: return ppr_head_;
    case reg::PPR_LOG_TAIL: return ppr_tail_;
    default: return 0;  // reserved / unimplemented registers read as zero
  }
}

void AmdVi::reg_write(uint32_t off, uint64_t v, const sc_core::sc_time& delay) {
  const uint64_t base_mask = ring::BASE_MASK | ring::LEN.mask();
  const uint32_t ptr = static_cast<uint32_t>(v & ring::PTR_MASK);
  switch (off) {
    case reg::DEV_TAB_BASE: devtab_base_ = v & (devtab::BASE_MASK | devtab::SIZE.mask()); break;
    case reg::CMD_BUF_BASE: cmd_base_ = v & base_mask; break;
    case reg::EVENT_LOG_BASE: event_base_ = v & base_mask; break;
    case reg::PPR_LOG_BASE: ppr_base_ = v & base_mask; break;
    case reg::CONTROL: {
      const uint64_t was = control_;
      control_ = v;
      const uint64_t rise = v & ~was, fall = was & ~v;
      // Enabling the command buffer starts fetching at Head (also after an ILLEGAL_COMMAND_ERROR stop).
      if (rise & control::CMD_BUF_EN) {
        cmd_run_ = true;
        cmd_kick_.notify(delay);
      }
      if (fall & control::CMD_BUF_EN) cmd_run_ = false;
      if (rise & control::EVENT_LOG_EN) event_run_ = true;
      if (fall & control::EVENT_LOG_EN) event_run_ = false;
      // PPR logging (re)starts on PPRLogEn 0 -> 1, also after an overflow stopped it.
      if ((rise & control::PPR_LOG_EN) && p_.ppr_sup) ppr_run_ = true;
      if (fall & control::PPR_LOG_EN) ppr_run_ = false;
      break;
    }
    case reg::EXCL_BASE: excl_base_ = v; break;
    case reg::EXCL_LIMIT: excl_limit_ = v; break;
    case reg::CMD_BUF_HEAD:
      if (!cmd_run_) cmd_head_ = ptr;  // software may move Head only while the buffer is stopped
      break;
    case reg::CMD_BUF_TAIL:
      cmd_tail_ = ptr;
      cmd_kick_.notify(delay);
      break;
    case reg::EVENT_LOG_HEAD: event_head_ = ptr; break;
    case reg::EVENT_LOG_TAIL:
      if (!event_run_) event_tail_ = ptr;  // the IOMMU owns Tail while logging
      break;
    case reg::STATUS: status_ &= ~(v & status::W1C); break;
    case reg::PPR_LOG_HEAD: ppr_head_ = ptr; break;
    case reg::PPR_LOG_TAIL:
      if (!ppr_run_) ppr_tail_ = ptr;  // the IOMMU owns Tail while logging
      break;
    default: break;  // read-only (Extended Feature) or unimplemented
  }
}

}  // namespace iommusim::amdvi
