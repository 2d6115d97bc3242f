// SparseMemory: the system's DRAM as a sparse backing store with latency and one bandwidth channel.
//
// What it models: a flat physical address space [0, size) whose 4 KiB pages are allocated on first
// write (untouched memory reads as zero and costs nothing), a fixed access latency, and one data
// channel of the configured bandwidth shared by every initiator (contention as occupancy: a burst
// that finds the channel busy starts when it frees up). Several initiators (IOMMUs, the host)
// bind to the one multi-socket. DMI hands out one 4 KiB page at a time; the backdoor serves the
// host model and tests without timing.
//
// What it does NOT model: banks, rows, refresh, read/write turnaround, NUMA, several channels,
// caches, ECC, or any ordering beyond the order in which b_transport calls arrive.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "models/common/occupancy.h"
#include "models/common/params.h"
#include "models/common/stats.h"

namespace iommusim {

struct SparseMemoryParams {
  uint64_t size = uint64_t{64} << 30;  // 64 GiB
  Time latency = Time::ns(90);         // DRAM load-to-use seen from the I/O side (idle)
  double bandwidth_gbps = 25.6;        // one DDR4-3200 channel, GB/s (1e9 bytes/s)

  void visit(ParamVisitor& v) {
    v.bytes("size", size, "size of the physical address space (pages cost only when written)", 4096,
            uint64_t{1} << 56);
    v.time("latency", latency, "fixed access latency after the data transfer", Time{}, Time::us(100));
    v.real("bandwidth", bandwidth_gbps, "GB/s", "data bandwidth of the single memory channel", 0.001, 100000.0);
  }
};

class SparseMemory : public sc_core::sc_module, public HasStats {
 public:
  static constexpr uint64_t kPageSize = 4096;
  static constexpr unsigned kPageShift = 12;

  tlm_utils::multi_passthrough_target_socket<SparseMemory> socket;

  SparseMemory(sc_core::sc_module_name name, const SparseMemoryParams& p);

  // Untimed backdoor; out-of-range accesses throw std::out_of_range.
  void read(uint64_t addr, void* dst, size_t len);
  void write(uint64_t addr, const void* src, size_t len);
  uint64_t read64(uint64_t addr);  // little-endian, like the simulated machines
  void write64(uint64_t addr, uint64_t v);

  size_t pages_touched() const { return pages_.size(); }
  uint64_t size() const { return p_.size; }
  const SparseMemoryParams& params() const { return p_; }
  StatGroup& stats() override { return stats_; }

 private:
  void b_transport(int id, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  unsigned int transport_dbg(int id, tlm::tlm_generic_payload& gp);
  bool get_direct_mem_ptr(int id, tlm::tlm_generic_payload& gp, tlm::tlm_dmi& dmi);

  bool in_range(uint64_t addr, uint64_t len) const { return addr <= p_.size && len <= p_.size - addr; }
  uint8_t* find_page(uint64_t pn);   // nullptr if never written
  uint8_t* touch_page(uint64_t pn);  // allocates a zeroed page if needed
  void copy_out(uint64_t addr, uint8_t* dst, size_t len);
  void copy_in(uint64_t addr, const uint8_t* src, size_t len);
  // Returns a TLM response status; handles byte enables and streaming width.
  tlm::tlm_response_status access(tlm::tlm_generic_payload& gp);

  SparseMemoryParams p_;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
  // Last page looked up (nullptr if absent): sequential accesses skip the hash lookup. Pages never
  // move once allocated.
  uint64_t cached_pn_ = UINT64_MAX;
  uint8_t* cached_page_ = nullptr;

  Occupancy channel_;
  double ps_per_byte_;
  sc_core::sc_time one_ps_, latency_, dmi_latency_per_byte_;
  unsigned xfer_len_ = 0;  // transfer time of the last burst length (0 bytes take 0 ps)
  sc_core::sc_time xfer_ = sc_core::SC_ZERO_TIME;

  StatGroup stats_;
  Counter& reads_;
  Counter& writes_;
  Counter& bytes_read_;
  Counter& bytes_written_;
  Counter& errors_;
  Counter& dbg_accesses_;
  Counter& dmi_grants_;
};

}  // namespace iommusim
