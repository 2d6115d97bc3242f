// RootPort: a PCIe root port and its link to the endpoint below, between the device and the IOMMU.
//
// What it models: device DMA crossing the link upstream and the root complex towards the IOMMU,
// and host traffic (MMIO, ATS invalidation messages) crossing downstream to the device. Upstream,
// every request TLP is forwarded as its own transaction (the IOMMU translates per TLP): a read
// becomes max_read_request-sized requests, each forwarded when it has crossed the link and the
// root complex, its completions returning split at RCB-aligned max_payload chunks; a write becomes
// max_payload-sized TLPs, each forwarded when it has crossed. The payload's address, data pointer,
// length and streaming width are narrowed per TLP and restored before returning; the PcieExt is
// passed through untouched and an error response from upstream is returned as is (the first
// failing TLP ends the transaction).
//
// Timing returned to the initiator: for a read, when the last completion has fully arrived; for a
// write, when the last TLP's write has completed at the target (what the target returned), i.e.
// when the data has landed, not when the posted TLP left the link; an endpoint wanting posted
// semantics does not wait for it. Downstream transactions are forwarded whole (MMIO registers
// want whole accesses), after all their TLPs have crossed.
//
// What it does NOT model: flow-control credits, ordering rules between posted and non-posted
// traffic, ACS/peer-to-peer, root-complex queues (rc_latency is a fixed pipeline), error messages
// (AER), or DMI (device DMA must always see the IOMMU).
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "models/common/params.h"
#include "models/common/stats.h"
#include "models/pcie/link.h"

namespace iommusim {

struct RootPortParams {
  LinkParams link;  // nested as group "link" so switches can reuse the same block
  // Root complex traversal per direction (port logic, IIO/uncore to the coherent fabric); see
  // LinkParams::latency for how the total anchors at pcie-bench's 600 ns.
  Time rc_latency = Time::ns(100);

  void visit(ParamVisitor& v) {
    v.group("link", link, "the PCIe link between this root port and the device below");
    v.time("rc_latency", rc_latency, "root-complex traversal latency, each direction", Time{}, Time::us(100));
  }
};

class RootPort : public sc_core::sc_module, public HasStats {
 public:
  tlm_utils::simple_target_socket<RootPort> from_device;  // DMA from the endpoint below
  tlm_utils::simple_initiator_socket<RootPort> to_iommu;  // towards the IOMMU / memory
  // Downstream path, optional: platforms without host-to-device traffic may leave it unbound
  // (a transaction on an unbound to_device gets TLM_ADDRESS_ERROR_RESPONSE).
  tlm_utils::simple_target_socket_optional<RootPort> from_host;
  tlm_utils::simple_initiator_socket_optional<RootPort> to_device;

  RootPort(sc_core::sc_module_name name, const RootPortParams& p);

  Link& link() { return link_; }
  const RootPortParams& params() const { return p_; }
  StatGroup& stats() override { return stats_; }

 private:
  void b_transport_up(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void b_transport_down(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  unsigned int dbg_up(tlm::tlm_generic_payload& gp);
  unsigned int dbg_down(tlm::tlm_generic_payload& gp);

  RootPortParams p_;
  StatGroup stats_;  // before link_: the link's group hangs under it
  Link link_;
  sc_core::sc_time rc_latency_;

  Counter& reads_;
  Counter& writes_;
  Counter& bytes_read_;
  Counter& bytes_written_;
  Counter& errors_;
  Counter& down_reads_;
  Counter& down_writes_;
  Histogram& read_latency_;
  Histogram& write_latency_;
};

}  // namespace iommusim
