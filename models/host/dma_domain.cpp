// DMA API: strict and lazy (flush queue) unmap policies over an architecture's domain.
#include "models/host/dma_domain.h"

#include <sysc/kernel/sc_spawn.h>

namespace iommusim::host {

DmaDomain::DmaDomain(std::unique_ptr<IommuDomain> d, Cpu& cpu, const HostParams& p, const std::string& name,
                     StatGroup& parent, const std::vector<ResvRegion>& reserved)
    : dom_(std::move(d)),
      cpu_(cpu),
      p_(p),
      iovad_(dom_->granule(), dom_->ias_bits() >= 64 ? UINT64_MAX : (uint64_t{1} << dom_->ias_bits()) - 1),
      stats_(name, &parent),
      maps_(stats_.counter("maps", "dma_map calls")),
      unmaps_(stats_.counter("unmaps", "dma_unmap calls")),
      map_failures_(stats_.counter("map_failures", "dma_map calls that found no free IOVA")),
      fq_flushes_(stats_.counter("fq_flushes", "lazy mode: flush-queue flushes")),
      fq_full_flushes_(stats_.counter("fq_full_flushes", "lazy mode: flushes forced by a full queue")),
      fq_timer_flushes_(stats_.counter("fq_timer_flushes", "lazy mode: flushes run by the timer")),
      range_flushes_(stats_.counter("range_flushes", "strict mode: synchronous range invalidations")),
      unmap_ns_(stats_.histogram("unmap_latency", "ns", "dma_unmap call duration on the CPU")) {
  for (const ResvRegion& r : reserved) iovad_.reserve(r.start, r.size);
  if (p_.dma_mode == DmaMode::Lazy) sc_core::sc_spawn([this] { timer_thread(); }, nullptr);
}

uint64_t DmaDomain::map(uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) {
  cpu_.current = Cpu::Cat::Map;
  ++maps_;
  const uint64_t gran = dom_->granule();
  const uint64_t off = pa & (gran - 1);
  const uint64_t len = (off + size + gran - 1) & ~(gran - 1);
  cpu_.spend(to_sc(p_.cost.iova_alloc), Cpu::Cat::Map);
  std::optional<uint64_t> iova;
  if (p_.dma_32bit_first) iova = iovad_.alloc(len, 0xFFFFFFFFull);
  if (!iova) iova = iovad_.alloc(len);
  if (!iova) {
    ++map_failures_;
    cpu_.current = Cpu::Cat::Other;
    return 0;
  }
  const PgWork w = dom_->map(*iova, pa - off, len, prot, max_page);
  if (w.tables_freed) dom_->flush_walk(*iova, len);  // the IOMMU may still cache the freed tables
  cpu_.spend(to_sc(p_.cost.map_call) + to_sc(p_.cost.pte_write) * w.ptes + to_sc(p_.cost.table_alloc) * w.tables,
             Cpu::Cat::Map);
  cpu_.current = Cpu::Cat::Other;
  return *iova + off;
}

void DmaDomain::unmap(uint64_t iova, uint64_t size) {
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  cpu_.current = Cpu::Cat::Unmap;
  ++unmaps_;
  const uint64_t gran = dom_->granule();
  const uint64_t off = iova & (gran - 1);
  const uint64_t start = iova - off;
  const uint64_t len = (off + size + gran - 1) & ~(gran - 1);
  uint64_t leaf = 0;
  const PgWork w = dom_->unmap(start, len, leaf);
  cpu_.spend(to_sc(p_.cost.unmap_call) + to_sc(p_.cost.pte_write) * w.ptes, Cpu::Cat::Unmap);
  if (p_.dma_mode == DmaMode::Strict) {
    ++range_flushes_;
    dom_->flush_range(start, len, leaf);  // waits for the sync
    cpu_.spend(to_sc(p_.cost.iova_free), Cpu::Cat::Unmap);
    iovad_.free(start);
  } else {
    cpu_.spend(to_sc(p_.cost.fq_push), Cpu::Cat::Unmap);
    if (fq_.size() >= p_.fq_size) {
      ++fq_full_flushes_;
      flush_queue();
    }
    fq_.push_back({start, len});
    if (!timer_armed_) {
      timer_armed_ = true;
      timer_.notify(to_sc(p_.fq_timeout));
    }
  }
  cpu_.current = Cpu::Cat::Other;
  unmap_ns_.record(static_cast<uint64_t>(to_ns(sc_core::sc_time_stamp() - t0)));
}

void DmaDomain::flush_queue() {
  // Only entries queued before the flush started are covered by it.
  const size_t n = fq_.size();
  if (n == 0) return;
  const Cpu::Cat saved = cpu_.current;
  cpu_.current = Cpu::Cat::Flush;
  ++fq_flushes_;
  dom_->flush_all();
  for (size_t i = 0; i < n && !fq_.empty(); ++i) {
    iovad_.free(fq_.front().iova);
    fq_.pop_front();
    cpu_.spend(to_sc(p_.cost.iova_free), Cpu::Cat::Flush);
  }
  cpu_.current = saved;
  flushed_.notify(sc_core::SC_ZERO_TIME);
}

void DmaDomain::timer_thread() {
  for (;;) {
    sc_core::wait(timer_);
    timer_armed_ = false;
    if (!fq_.empty()) {
      ++fq_timer_flushes_;
      flush_queue();
    }
  }
}

}  // namespace iommusim::host
