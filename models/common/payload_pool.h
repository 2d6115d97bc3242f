// Pooled tlm_generic_payloads: a DMA must not allocate on the hot path.
#pragma once
#include <tlm>

#include <memory>
#include <vector>

#include "models/common/pcie_ext.h"

namespace iommusim {

// Each pooled payload owns one PcieExt set once at creation; acquire() hands out a
// payload with reference count 1 and a reset extension, release returns it to the free list.
class PayloadPool : public tlm::tlm_mm_interface {
 public:
  PayloadPool() = default;
  PayloadPool(const PayloadPool&) = delete;
  PayloadPool& operator=(const PayloadPool&) = delete;
  ~PayloadPool() override {
    for (auto* p : all_) {
      p->clear_extension(p->get_extension<PcieExt>());
      delete p;
    }
    for (auto* e : exts_) delete e;
  }

  tlm::tlm_generic_payload* acquire() {
    PcieExt* e;
    return acquire(e);
  }
  // Also hands back the payload's PcieExt, saving the initiator an extension lookup.
  tlm::tlm_generic_payload* acquire(PcieExt*& ext) {
    tlm::tlm_generic_payload* p;
    if (free_.empty()) {
      p = new tlm::tlm_generic_payload(this);
      ext = new PcieExt;
      p->set_extension(ext);
      all_.push_back(p);
      exts_.push_back(ext);
      ext_of_.push_back({p, ext});
    } else {
      p = free_.back();
      free_.pop_back();
      ext = find_ext(p);
    }
    p->acquire();
    ext->reset();
    p->set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    p->set_dmi_allowed(false);
    p->set_byte_enable_ptr(nullptr);
    p->set_byte_enable_length(0);
    p->set_streaming_width(0);
    return p;
  }
  // tlm_mm_interface: called when the reference count drops to zero.
  void free(tlm::tlm_generic_payload* p) override { free_.push_back(p); }
  size_t allocated() const { return all_.size(); }

 private:
  // Few payloads live per pool (one per request in flight): a short scan beats a hash lookup.
  PcieExt* find_ext(const tlm::tlm_generic_payload* p) const {
    for (const auto& [gp, e] : ext_of_)
      if (gp == p) return e;
    return p->get_extension<PcieExt>();
  }
  std::vector<std::pair<const tlm::tlm_generic_payload*, PcieExt*>> ext_of_;
  std::vector<tlm::tlm_generic_payload*> free_;
  std::vector<tlm::tlm_generic_payload*> all_;
  std::vector<PcieExt*> exts_;
};

inline PcieExt& pcie(tlm::tlm_generic_payload& p) {
  auto* e = p.get_extension<PcieExt>();
  return *e;
}

}  // namespace iommusim
