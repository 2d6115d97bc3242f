// The DMA API on an IOMMU default domain (Linux dma-iommu): IOVA allocation, map and unmap in
// strict mode (synchronous range invalidation per unmap, IOVA freed at once) or lazy mode (a
// flush queue of fq_size entries and a timer; IOVAs are freed only after the flush covering them).
// Not modelled: per-CPU flush queues (one queue per domain), IOVA rcaches (cost only), swiotlb.
#pragma once
#include <systemc>

#include <deque>
#include <memory>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/iommu_driver.h"
#include "models/host/iova_alloc.h"

namespace iommusim::host {

class DmaDomain {
 public:
  DmaDomain(std::unique_ptr<IommuDomain> d, Cpu& cpu, const HostParams& p, const std::string& name,
            StatGroup& parent, const std::vector<ResvRegion>& reserved = {});
  // Maps [pa, pa+size) for the device; returns the IOVA, or 0 (DMA_MAPPING_ERROR) when no IOVA is free.
  uint64_t map(uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page = ~uint64_t{0});
  void unmap(uint64_t iova, uint64_t size);
  // Lazy mode: flush the queue now (also run by the timer and when the queue is full).
  void flush_queue();
  IommuDomain& domain() { return *dom_; }
  // Notified after each completed flush-queue flush; flushes() counts them.
  sc_core::sc_event& flushed() { return flushed_; }
  uint64_t flushes() const { return fq_flushes_.v; }
  size_t fq_pending() const { return fq_.size(); }

 private:
  void timer_thread();
  struct FqEntry {
    uint64_t iova, size;
  };
  std::unique_ptr<IommuDomain> dom_;
  Cpu& cpu_;
  const HostParams& p_;
  IovaAllocator iovad_;
  std::deque<FqEntry> fq_;
  bool timer_armed_ = false;
  sc_core::sc_event timer_, flushed_;
  StatGroup stats_;
  Counter& maps_;
  Counter& unmaps_;
  Counter& map_failures_;
  Counter& fq_flushes_;
  Counter& fq_full_flushes_;
  Counter& fq_timer_flushes_;
  Counter& range_flushes_;
  Histogram& unmap_ns_;
};

}  // namespace iommusim::host
