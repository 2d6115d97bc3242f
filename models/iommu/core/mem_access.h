// A timed memory access issued by an IOMMU itself (table walks, queue fetches, records, status
// writes) through its memory socket, at absolute time t (advanced to the access's completion).
#pragma once
#include <tlm>

#include "models/common/payload_pool.h"
#include "models/common/sim_time.h"

namespace iommusim {

inline bool iommu_mem_access(tlm::tlm_fw_transport_if<>& mem, PayloadPool& pool, bool write, uint64_t pa,
                             void* data, unsigned len, sc_core::sc_time& t) {
  tlm::tlm_generic_payload* gp = pool.acquire();
  gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  gp->set_address(pa);
  gp->set_data_ptr(static_cast<unsigned char*>(data));
  gp->set_data_length(len);
  gp->set_streaming_width(len);
  sc_core::sc_time d = t - sim_now();
  mem.b_transport(*gp, d);
  t = sim_now() + d;
  const bool ok = gp->is_response_ok();
  gp->release();
  return ok;
}

}  // namespace iommusim
