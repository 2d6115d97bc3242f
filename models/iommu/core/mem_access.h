// A timed memory access issued by an IOMMU itself (table walks, queue fetches, records, status
// writes) through its memory socket, at absolute time t (advanced to the access's completion).
#pragma once
#include <tlm>

#include "models/common/payload_pool.h"
#include "models/common/sim_time.h"
#include "models/irq/irq_sink.h"

namespace iommusim {

// `tag` (may be null) rides along on the payload: the MsiTag of an interrupt an IOMMU forwards as a
// new write (interrupt remapping).
inline bool iommu_mem_access(tlm::tlm_fw_transport_if<>& mem, PayloadPool& pool, bool write, uint64_t pa,
                             void* data, unsigned len, sc_core::sc_time& t, MsiTag* tag) {
  tlm::tlm_generic_payload* gp = pool.acquire();
  if (tag) gp->set_extension(tag);
  gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  gp->set_address(pa);
  gp->set_data_ptr(static_cast<unsigned char*>(data));
  gp->set_data_length(len);
  gp->set_streaming_width(len);
  sc_core::sc_time d = t - sim_now();
  mem.b_transport(*gp, d);
  t = sim_now() + d;
  const bool ok = gp->is_response_ok();
  if (tag) gp->clear_extension(tag);
  gp->release();
  return ok;
}

inline bool iommu_mem_access(tlm::tlm_fw_transport_if<>& mem, PayloadPool& pool, bool write, uint64_t pa,
                             void* data, unsigned len, sc_core::sc_time& t) {
  return iommu_mem_access(mem, pool, write, pa, data, len, t, nullptr);
}

}  // namespace iommusim
