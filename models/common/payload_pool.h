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
  ~PayloadPool() override = default;

  tlm::tlm_generic_payload* acquire() {
    PcieExt* e;
    return acquire(e);
  }
  // Also hands back the payload's PcieExt, saving the initiator an extension lookup.
  [[gnu::always_inline]] tlm::tlm_generic_payload* acquire(PcieExt*& ext) {
    if (!free_) grow();
    Pooled* p = free_;
    free_ = p->next_free;
    ext = &p->ext;
    p->acquire();
    p->ext.reset();
    p->set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    p->set_dmi_allowed(false);
    p->set_byte_enable_ptr(nullptr);
    p->set_byte_enable_length(0);
    p->set_streaming_width(0);
    return p;
  }
  // The cold path, out of line so acquire() stays small enough to inline into every initiator.
  [[gnu::noinline]] void grow() {
    all_.push_back(std::make_unique<Pooled>(this));
    free_ = all_.back().get();
  }
  // tlm_mm_interface: called when the reference count drops to zero. Only this pool's payloads
  // name it as their memory manager, so p is one of ours.
  void free(tlm::tlm_generic_payload* p) override {
    Pooled* q = static_cast<Pooled*>(p);
    q->next_free = free_;
    free_ = q;
  }
  size_t allocated() const { return all_.size(); }

 private:
  // A payload and its extension in one object: no lookup to find the extension again.
  struct Pooled : tlm::tlm_generic_payload {
    explicit Pooled(tlm::tlm_mm_interface* mm) : tlm::tlm_generic_payload(mm) { set_extension(&ext); }
    // Detach before the base destructor, which would free (delete) every extension still set.
    ~Pooled() override { clear_extension(&ext); }
    PcieExt ext;
    Pooled* next_free = nullptr;  // free-list link (intrusive: release and acquire never allocate)
  };
  Pooled* free_ = nullptr;  // LIFO: the most recently released (cache-warm) payload goes out first
  std::vector<std::unique_ptr<Pooled>> all_;
};

inline PcieExt& pcie(tlm::tlm_generic_payload& p) {
  auto* e = p.get_extension<PcieExt>();
  return *e;
}

}  // namespace iommusim
