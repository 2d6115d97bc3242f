// AtsPort: the translation agent's side of ATS invalidation (and of PRI responses, which travel
// the same downstream path), shared by every IOMMU model.
//
// An IOMMU's invalidation command (SMMUv3 CMD_ATC_INV, VT-d device-TLB descriptors, AMD
// INVALIDATE_IOTLB_PAGES) becomes an Invalidate Request message sent downstream to the device by
// its requester ID, tagged with an ITag free for that device; it stays outstanding until the
// device's Invalidate Completion messages for that ITag (Completion Count of them) arrive upstream.
// The IOMMU's ordering command (CMD_SYNC, invalidation wait, COMPLETION_WAIT) calls drain(), which
// returns when everything sent before it has completed, or reports the invalidations that passed
// their time-out (the IOMMU then reports the error its architecture defines).
//
// Flow control: at most 32 ITags per device, and at most the device's Invalidate Queue Depth in
// flight (given per request, as VT-d and AMD commands carry it; 0 = 32); a request that finds no
// room waits for a completion.
//
// Not modelled: Invalidate Requests split over several messages, ITag reuse hazards after a time-out
// (a timed-out ITag is freed at once), messages lost on the link.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>

#include <cstdint>
#include <vector>

#include "models/common/params.h"
#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/common/sim_time.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"

namespace iommusim {

struct AtsPortParams {
  // PCIe: a device must answer an Invalidate Request within 1 minute (+50%/-0%); the agent's
  // completion timer must not fire earlier than that.
  Time inv_timeout = Time::ms(60000);

  void visit(ParamVisitor& v) {
    v.time("inv_timeout", inv_timeout, "time an ATS Invalidate Request may stay unanswered before it is a time-out",
           Time::ns(1), Time::ms(1e6));
  }
};

class AtsPort : public sc_core::sc_module {
 public:
  // Downstream towards the root ports (bound once per port; optional when no device uses ATS).
  tlm_utils::multi_passthrough_initiator_socket<AtsPort, 32, tlm::tlm_base_protocol_types, 0,
                                                sc_core::SC_ZERO_OR_MORE_BOUND>
      down;

  AtsPort(sc_core::sc_module_name name, const AtsPortParams& p, StatGroup& parent);

  // The device with this requester ID is reached through down[port].
  void add_device(uint16_t rid, unsigned port);
  bool knows(uint16_t rid) const { return find(rid) != nullptr; }

  // Thread context: sends an Invalidate Request for [base, base+size) (size a power of two >= 4 KiB,
  // 0 = everything) to device rid, waiting for an ITag and queue room first. Returns false (nothing
  // sent) when rid is not reachable through this agent.
  bool invalidate(uint16_t rid, bool pasid_valid, uint32_t pasid, uint64_t base, uint64_t size, bool global,
                  unsigned queue_depth, sc_core::sc_time t);

  // Thread context: an Invalidate Completion arriving at absolute time t (from the IOMMU's upstream
  // socket, called in the sender's thread); waits until t so drain() sees it no earlier.
  // Returns how many of its ITags named no outstanding invalidation (an unknown rid counts as one).
  unsigned completion(uint16_t rid, uint32_t itag_vector, uint8_t cc, sc_core::sc_time t);

  // The messages an IOMMU receives upstream, the same for every architecture: an Invalidate
  // Completion goes to on_completion(x, arrival) (which calls completion()), a Page Request to
  // on_page_request() when the IOMMU takes page requests, anything else is an error response.
  // Returns false for an ordinary request (msg None), which the caller translates.
  template <class OnCompletion, class OnPageRequest>
  static bool upstream_message(tlm::tlm_generic_payload& gp, const PcieExt& x, sc_core::sc_time& delay,
                               bool takes_page_requests, OnCompletion on_completion, OnPageRequest on_page_request) {
    switch (x.msg) {
      case MsgKind::None: return false;
      case MsgKind::AtsInvCompletion:
        on_completion(x, sim_now() + delay);  // waits until the message has arrived
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
        delay = sc_core::SC_ZERO_TIME;
        return true;
      case MsgKind::PageRequest:
        if (takes_page_requests) {
          on_page_request();
          return true;
        }
        break;
      default: break;  // downstream-only messages never reach an IOMMU
    }
    gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return true;
  }

  // Thread context: waits until every invalidation sent so far has completed, or until the oldest
  // unanswered one passes its time-out. Returns the requester IDs of the timed-out ones (empty on
  // success); those are dropped. t is advanced to when the wait ended.
  std::vector<uint16_t> drain(sc_core::sc_time& t);

  // Thread context: sends a PRG Response (PRI) downstream to device rid for page request group
  // prg_index. Returns false when rid is not reachable through this agent.
  bool prg_response(uint16_t rid, bool pasid_valid, uint32_t pasid, uint16_t prg_index, uint8_t code,
                    sc_core::sc_time t);

  size_t outstanding() const { return outstanding_; }
  StatGroup& stats() { return stats_; }

 private:
  struct Pending {
    uint64_t seq;
    uint8_t itag;
    uint8_t cc_expected, cc_seen;
    sc_core::sc_time sent;
  };
  struct Device {
    uint16_t rid;
    unsigned port;
    uint32_t busy = 0;  // ITags in use
    std::vector<Pending> pending;
  };
  Device* find(uint16_t rid);
  const Device* find(uint16_t rid) const;

  AtsPortParams p_;
  sc_core::sc_time timeout_;
  std::vector<Device> devices_;
  PayloadPool pool_;
  uint64_t seq_ = 0;
  size_t outstanding_ = 0;
  sc_core::sc_event changed_;  // a completion arrived or an ITag freed

  StatGroup stats_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Iommu, name());
  Counter& requests_;
  Counter& completions_;
  Counter& timeouts_;
  Counter& unexpected_;
  Counter& itag_stalls_;
  Counter& prg_responses_;
  Histogram& rtt_ns_;
};

}  // namespace iommusim
