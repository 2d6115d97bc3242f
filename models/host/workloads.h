// Workloads the host runs against its devices (the run config's `workloads:` entries): a device
// streaming over a mapped buffer, and a driver looping dma_map / DMA / dma_unmap.
#pragma once
#include <string>

#include "models/common/params.h"
#include "models/pcie/dma_job.h"

namespace iommusim::host {

// The host maps a buffer for the device once, then the device runs a synthetic access pattern
// over it (the pcie-bench style latency / bandwidth experiment).
struct StreamWorkloadParams {
  std::string label;                // names this workload's stats group (default: w<index>)
  uint64_t window = 1ull << 20;     // bytes mapped and walked over
  uint64_t page_size = 4096;        // largest IOMMU page used for the mapping (4KiB, 2MiB, 1GiB)
  DmaPattern pattern = DmaPattern::Random;
  uint64_t request_size = 64;
  uint64_t stride = 4096;
  double read_fraction = 1.0;
  uint64_t count = 10000;           // requests measured
  uint64_t warmup = 0;              // requests issued before measuring (fill the caches)
  bool unmap_at_end = true;

  void visit(ParamVisitor& v) {
    v.text("label", label, "name of this workload's statistics group");
    v.bytes("window", window, "buffer the host maps and the device accesses", 4096, 1ull << 40);
    v.bytes("page_size", page_size, "largest IOMMU page size used to map the buffer", 4096, 1ull << 30);
    v.choice_enum("pattern", pattern, {"sequential", "random", "strided"}, "address pattern over the window");
    v.bytes("request_size", request_size, "bytes per DMA request (requests never cross 4 KiB)", 1, 4096);
    v.bytes("stride", stride, "strided pattern: distance between requests", 1, 1ull << 40);
    v.real("read_fraction", read_fraction, "", "fraction of requests that are reads", 0.0, 1.0);
    v.count("count", count, "requests measured", 1, 1ull << 40);
    v.count("warmup", warmup, "requests issued before measuring", 0, 1ull << 40);
    v.flag("unmap_at_end", unmap_at_end, "dma_unmap the buffer when the workload ends");
  }
};

// A driver that, per iteration, maps a buffer, has the device DMA all of it, then unmaps it: the
// pattern whose cost strict and lazy invalidation trade off.
struct MapUnmapWorkloadParams {
  std::string label;
  uint64_t buffer = 4096;          // bytes mapped per iteration
  uint64_t request_size = 256;
  uint64_t iterations = 1000;
  bool write = false;              // device writes (receive) instead of reads (transmit)
  bool probe_after_unmap = false;  // DMA the buffer once more after each unmap (must fault in strict mode)

  void visit(ParamVisitor& v) {
    v.text("label", label, "name of this workload's statistics group");
    v.bytes("buffer", buffer, "bytes mapped, transferred and unmapped per iteration", 1, 1ull << 30);
    v.bytes("request_size", request_size, "bytes per DMA request", 1, 4096);
    v.count("iterations", iterations, "map / DMA / unmap iterations", 1, 1ull << 32);
    v.flag("write", write, "the device writes the buffer instead of reading it");
    v.flag("probe_after_unmap", probe_after_unmap,
           "after each unmap, have the device read the unmapped IOVA once and count the outcome");
  }
};

// SVA (seed 004): a process whose address space several devices share. Every `sva` workload naming
// the same `mm` contributes its endpoint; the first one sets the process's parameters. The process
// maps `buffer` (populated unless fault_in), binds each device in config order, then per iteration
// has every device read the next `pages` pages at its PASID (one request per page, so the IOTLBs
// and ATCs hold them) and munmaps those pages: the mmu notifier invalidates every SVA domain.
// After each munmap every device reads the unmapped pages once more: each read must fault.
// With fault_in the pages are not populated: the devices' first reads fault through PRI / stall.
struct SvaWorkloadParams {
  std::string label;
  std::string mm = "proc0";
  uint64_t buffer = 1ull << 20;
  uint64_t pages = 16;
  uint64_t iterations = 8;
  uint64_t request_size = 64;
  bool fault_in = false;
  bool write = false;

  void visit(ParamVisitor& v) {
    v.text("label", label, "name of this workload's statistics group");
    v.text("mm", mm, "the process; workloads naming the same one share its address space");
    v.bytes("buffer", buffer, "bytes the process maps (at least iterations x pages x 4 KiB)", 4096, 1ull << 40);
    v.count("pages", pages, "4 KiB pages unmapped per iteration", 1, 1ull << 20);
    v.count("iterations", iterations, "DMA + munmap rounds", 1, 1ull << 20);
    v.bytes("request_size", request_size, "bytes per device request (one per page)", 4, 4096);
    v.flag("fault_in", fault_in, "leave the buffer unpopulated: the devices' first accesses fault (PRI / stall)");
    v.flag("write", write, "devices write instead of read");
  }
};

// Replays a trace file (traces/README.md) of host and device operations; the workload's endpoint
// is the default device for host operations.
enum class TraceMode { Open = 0, Closed = 1 };
struct TraceWorkloadParams {
  std::string label;
  std::string file;               // relative to the config file's directory (resolved by the platform)
  TraceMode mode = TraceMode::Open;
  uint64_t request_size = 256;    // largest DMA request a device op is split into

  void visit(ParamVisitor& v) {
    v.text("label", label, "name of this workload's statistics group");
    v.text("file", file, "trace file, relative to the config file's directory");
    v.choice_enum("mode", mode, {"open", "closed"},
                  "open: issue each event at its timestamp; closed: issue each when the previous completes");
    v.bytes("request_size", request_size,
            "largest request a device op is split into (a power of two, at most the endpoint's max_read_request)",
            4, 4096);
  }
};

}  // namespace iommusim::host
