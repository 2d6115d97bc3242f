// A stand-in ATS device for IOMMU unit tests: receives Invalidate Requests from an IOMMU's AtsPort,
// records them, and (unless told to stay silent) answers each with an Invalidate Completion sent
// upstream after a fixed latency, as a real device's ATC would. For PRI it sends Page Requests on
// request and records the PRG Responses it receives.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstring>
#include <deque>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/pcie/ats_defs.h"
#include "models/pcie/pri_defs.h"

namespace iommusim::test {

struct SeenInvalidation {
  uint16_t rid;
  bool pasid_valid;
  uint32_t pasid;
  ats::Range range;
  bool global;
  uint8_t itag;
  sc_core::sc_time arrived;
};

struct SeenPrgResponse {
  uint16_t rid;
  bool pasid_valid;
  uint32_t pasid;
  uint16_t prg_index;
  uint8_t code;
  sc_core::sc_time arrived;
};

struct AtsTestDevice : sc_core::sc_module {
  tlm_utils::simple_target_socket<AtsTestDevice> from_iommu{"from_iommu"};  // bind AtsPort::down to it
  tlm_utils::simple_initiator_socket<AtsTestDevice> to_iommu{"to_iommu"};   // bind to the IOMMU's upstream
  sc_core::sc_time latency = sc_core::sc_time(1, sc_core::SC_US);
  bool answer = true;
  std::vector<SeenInvalidation> seen;
  std::vector<sc_core::sc_time> answered;
  std::vector<SeenPrgResponse> prg_responses;

  SC_HAS_PROCESS(AtsTestDevice);
  explicit AtsTestDevice(sc_core::sc_module_name n) : sc_core::sc_module(n) {
    from_iommu.register_b_transport(this, &AtsTestDevice::receive);
    SC_THREAD(responder);
  }

  // Thread context: sends a PRI Page Request (a posted 8-byte message) from requester rid, with a
  // PASID prefix when pasid >= 0. Returns the message's response status.
  tlm::tlm_response_status send_page_request(uint16_t rid, const pri::PageRequest& r, int pasid = -1,
                                             bool priv = false, bool exec = false) {
    PcieExt* x;
    tlm::tlm_generic_payload* gp = pool_.acquire(x);
    uint64_t body = pri::encode(r);
    gp->set_command(tlm::TLM_WRITE_COMMAND);
    gp->set_address(0);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
    gp->set_data_length(8);
    gp->set_streaming_width(8);
    gp->set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    x->rid = rid;
    x->msg = MsgKind::PageRequest;
    x->itag_or_prg = r.prg_index;
    x->last = r.last;
    x->pasid_valid = pasid >= 0;
    x->pasid = pasid >= 0 ? static_cast<uint32_t>(pasid) : 0;
    x->pmr = priv;
    x->er = exec;
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    to_iommu->b_transport(*gp, d);
    const tlm::tlm_response_status st = gp->get_response_status();
    gp->release();
    if (d > sc_core::SC_ZERO_TIME) wait(d);
    return st;
  }

 private:
  void receive(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
    const PcieExt* x = gp.get_extension<PcieExt>();
    if (x && x->msg == MsgKind::PrgResponse) {
      prg_responses.push_back(SeenPrgResponse{x->rid, x->pasid_valid, x->pasid,
                                              static_cast<uint16_t>(x->itag_or_prg), x->resp_code,
                                              sc_core::sc_time_stamp() + delay});
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    if (!x || x->msg != MsgKind::AtsInvRequest || gp.get_data_length() != 8) {
      gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    uint64_t body;
    std::memcpy(&body, gp.get_data_ptr(), 8);
    SeenInvalidation s{};
    s.rid = x->rid;
    s.pasid_valid = x->pasid_valid;
    s.pasid = x->pasid;
    s.range = ats::decode_inv_request(body, s.global);
    s.itag = static_cast<uint8_t>(x->itag_or_prg);
    s.arrived = sc_core::sc_time_stamp() + delay;
    seen.push_back(s);
    if (answer) {
      queue_.push_back(s);
      kick_.notify(delay);
    }
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  void responder() {
    for (;;) {
      while (queue_.empty()) wait(kick_);
      const SeenInvalidation s = queue_.front();
      queue_.pop_front();
      const sc_core::sc_time due = s.arrived + latency;
      if (due > sc_core::sc_time_stamp()) wait(due - sc_core::sc_time_stamp());
      PcieExt* x;
      tlm::tlm_generic_payload* gp = pool_.acquire(x);
      uint64_t zero = 0;
      gp->set_command(tlm::TLM_WRITE_COMMAND);
      gp->set_address(0);
      gp->set_data_ptr(reinterpret_cast<unsigned char*>(&zero));
      gp->set_data_length(8);
      gp->set_streaming_width(8);
      x->rid = s.rid;
      x->msg = MsgKind::AtsInvCompletion;
      x->itag_or_prg = 1u << s.itag;
      x->cc = 1;
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      to_iommu->b_transport(*gp, d);
      gp->release();
      answered.push_back(sc_core::sc_time_stamp());
    }
  }
  std::deque<SeenInvalidation> queue_;
  sc_core::sc_event kick_;
  PayloadPool pool_;
};

}  // namespace iommusim::test
