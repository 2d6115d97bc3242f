// Link: the timing of one PCIe link (both directions), as a plain C++ class used by ports and switches.
//
// What it models: per-direction serialisation at the lane rate x width x line-encoding efficiency,
// a per-TLP wire overhead (framing, sequence number, header, LCRC), bandwidth lost to ACK and
// flow-control DLLPs as a fixed fraction, a fixed one-way PHY + data-link latency, and contention
// per direction as occupancy (a TLP that finds the direction busy starts when it frees up). It splits
// memory writes at max_payload, read requests at max_read_request and completions at
// read-completion-boundary-aligned max_payload chunks.
//
// What it does NOT model: flow-control credits and receive buffers (no back-pressure beyond the wire
// itself), replay after LCRC errors, SKP ordered sets, link training, power states, ECRC, TLP
// prefixes (PASID adds 4 bytes in reality), virtual channels, or ordering rules between directions.
// Gen6 FLIT mode is approximated as 242/256 efficiency with the same per-TLP overhead parameter.
#pragma once
#include <systemc>

#include <cstdint>

#include "models/common/occupancy.h"
#include "models/common/params.h"
#include "models/common/stats.h"

namespace iommusim {

struct LinkParams {
  uint64_t gen = 3;
  uint64_t width = 8;
  uint64_t max_payload = 256;
  uint64_t max_read_request = 512;
  uint64_t read_completion_boundary = 64;
  // Memory request/write TLP on the wire with a 64-bit address, Gen3: 4 B STP framing token (which
  // carries the sequence number) + 16 B 4-DW header + 4 B LCRC = 24 B. Gen1/2 give the same 24 B:
  // STP 1 + sequence 2 + header 16 + LCRC 4 + END 1.
  uint64_t tlp_overhead = 24;
  // Completions always carry a 3-DW header: 4 + 12 + 4 = 20 B.
  uint64_t cpl_overhead = 20;
  // ACK/NAK and UpdateFC DLLPs (8 B each on the wire) interleave with TLPs; at one ACK per few
  // TLPs plus periodic credit updates they take about 2% of the wire. With 256 B completions this
  // gives 256/276 * 0.98 = 91% of line rate, near pcie-bench's 88% for 512 B DMA reads on Gen3 x8.
  double dllp_overhead = 0.02;
  // One-way PHY (serdes, block alignment, elastic buffer, deskew) + data-link (LCRC, sequence) time
  // of one hop, both ends. 140 ns with RootPort's rc_latency 100 ns and 90 ns memory gives a 64 B
  // DMA read round trip of ~587 ns on Gen3 x8, leaving ~13 ns for an IOTLB hit: pcie-bench's 600 ns.
  Time latency = Time::ns(140);

  void visit(ParamVisitor& v) {
    v.count("gen", gen, "PCIe generation (1..6): sets the lane rate and line encoding", 1, 6);
    v.count("width", width, "lanes: 1, 2, 4, 8, 16 or 32", 1, 32);
    v.bytes("max_payload", max_payload, "Max_Payload_Size: largest write/completion data per TLP (power of 2)",
            128, 4096);
    v.bytes("max_read_request", max_read_request, "Max_Read_Request_Size: largest read request (power of 2)", 128,
            4096);
    v.bytes("read_completion_boundary", read_completion_boundary,
            "RCB: completions split at multiples of this (64 or 128)", 64, 128);
    v.bytes("tlp_overhead", tlp_overhead, "wire bytes per request/write TLP besides data (framing, seq, header, LCRC)",
            0, 256);
    v.bytes("cpl_overhead", cpl_overhead, "wire bytes per completion TLP besides data (3-DW header)", 0, 256);
    v.real("dllp_overhead", dllp_overhead, "", "fraction of the wire taken by ACK/flow-control DLLPs", 0.0, 0.5);
    v.time("latency", latency, "one-way PHY + data-link latency of the hop (excluding serialisation)", Time{},
           Time::us(100));
  }
  // nullptr if consistent, else what is wrong (values the visitor ranges cannot express).
  const char* validate() const;
};

enum class Dir : uint8_t { Up = 0, Down = 1 };

class Link {
 public:
  // Registers its statistics as group `name` under `parent` (may be nullptr). Throws
  // std::invalid_argument if p.validate() fails.
  Link(const LinkParams& p, StatGroup* parent, const char* name = "link");

  // Per-lane transfer rate (transfers/s) and line-encoding efficiency of a generation.
  static double lane_rate(uint64_t gen);
  static double encoding(uint64_t gen);
  // Raw data bytes/s per direction after line encoding: rate * width * encoding / 8.
  double raw_bytes_per_s() const { return raw_; }
  // What TLPs (payload + overhead) get: raw less the DLLP share.
  double tlp_bytes_per_s() const { return raw_ * (1.0 - p_.dllp_overhead); }
  // Serialisation time of `wire_bytes`, rounded to the nearest ps.
  sc_core::sc_time wire_time(uint64_t wire_bytes) const {
    return one_ps_ * (static_cast<double>(wire_bytes) * ps_per_byte_);  // inline, unlike from_value()
  }

  // One TLP carrying `payload` data bytes plus `overhead` wire bytes, entering direction d at
  // absolute time `arrival`; returns when it has fully arrived at the far end (absolute).
  // Always inlined: it runs once per TLP and is barely bigger than a call.
  [[gnu::always_inline]] sc_core::sc_time send(Dir d, const sc_core::sc_time& arrival, uint32_t payload,
                                                uint32_t overhead) {
    Side& s = side_[static_cast<int>(d)];
    const uint64_t bytes = uint64_t{payload} + overhead;
    if (bytes != s.memo_bytes) {  // streams repeat one TLP size per direction: skip the FP rounding
      s.memo_bytes = bytes;
      s.memo_busy = wire_time(bytes);
    }
    const sc_core::sc_time busy = s.memo_busy;
    const sc_core::sc_time start = s.occ.reserve(arrival, busy);
    ++*s.tlps;
    *s.payload += payload;
    *s.wire += uint64_t{payload} + overhead;
    return start + busy + latency_;
  }
  // One request/write TLP (tlp_overhead) in either direction.
  sc_core::sc_time send_up(const sc_core::sc_time& arrival, uint32_t payload) {
    return send(Dir::Up, arrival, payload, tlp_ovh_);
  }
  sc_core::sc_time send_down(const sc_core::sc_time& arrival, uint32_t payload) {
    return send(Dir::Down, arrival, payload, tlp_ovh_);
  }

  // Multi-TLP helpers; each returns when the last TLP has arrived at the far end. All TLPs are
  // ready at `arrival`: the direction's occupancy spaces them.
  // A memory write split into max_payload-aligned TLPs (at least one, even for 0 bytes).
  sc_core::sc_time mem_write(const sc_core::sc_time& arrival, uint64_t addr, uint64_t len, Dir d = Dir::Up);
  // Header-only read requests, split at max_read_request-aligned boundaries.
  sc_core::sc_time read_request(const sc_core::sc_time& arrival, uint64_t addr, uint64_t len, Dir d = Dir::Up);
  // Completions with data for [addr, addr+len), split at RCB-aligned max_payload chunks.
  sc_core::sc_time read_completions(const sc_core::sc_time& ready, uint64_t addr, uint64_t len,
                                    Dir d = Dir::Down);

  // Size of the next TLP starting at addr with `remaining` bytes left (0 if remaining is 0).
  uint32_t write_chunk(uint64_t addr, uint64_t remaining) const { return chunk(addr, remaining, mps_); }
  uint32_t request_chunk(uint64_t addr, uint64_t remaining) const { return chunk(addr, remaining, mrrs_); }
  uint32_t completion_chunk(uint64_t addr, uint64_t remaining) const {
    // The chunk ends at the last RCB boundary within max_payload of addr (RCB <= MPS, so > addr).
    const uint64_t end = (addr + mps_) & ~(uint64_t{rcb_} - 1);
    return static_cast<uint32_t>(end - addr < remaining ? end - addr : remaining);
  }

  uint32_t tlp_overhead() const { return tlp_ovh_; }
  uint32_t cpl_overhead() const { return cpl_ovh_; }
  const sc_core::sc_time& latency() const { return latency_; }
  const LinkParams& params() const { return p_; }
  const Occupancy& occupancy(Dir d) const { return side_[static_cast<int>(d)].occ; }
  uint64_t tlps(Dir d) const { return side_[static_cast<int>(d)].tlps->v; }
  uint64_t payload_bytes(Dir d) const { return side_[static_cast<int>(d)].payload->v; }
  StatGroup& stats() { return stats_; }

 private:
  static uint32_t chunk(uint64_t addr, uint64_t remaining, uint32_t align) {
    const uint64_t room = align - (addr & (align - 1));
    return static_cast<uint32_t>(room < remaining ? room : remaining);
  }
  struct Side {
    Occupancy occ;
    Counter* tlps;  // owned by stats_
    Counter* payload;
    Counter* wire;
    uint64_t memo_bytes = 0;  // wire_time(memo_bytes) == memo_busy (0 bytes take 0 ps)
    sc_core::sc_time memo_busy = sc_core::SC_ZERO_TIME;
  };

  LinkParams p_;
  double raw_;
  double ps_per_byte_;  // per wire byte, DLLP share included
  sc_core::sc_time one_ps_, latency_;
  uint32_t tlp_ovh_, cpl_ovh_, mps_, mrrs_, rcb_;
  StatGroup stats_;
  Side side_[2];
};

}  // namespace iommusim
