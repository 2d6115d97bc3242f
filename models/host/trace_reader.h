// Streaming parser for trace files (traces/README.md): one event per next(), one line in memory.
#pragma once
#include <array>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace iommusim::host {

// A malformed trace or an event that cannot be replayed; what() is "<file>:<line>: <what>".
struct TraceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TraceEvent {
  enum class Op : uint8_t {
    DmaMap, DmaUnmap, Mmap, Touch, Munmap, Mprotect, Bind, Unbind, Exit, Wait, Read, Write,
    // MSIs (R4): request_irq / free_irq on the host, a device raising an MSI-X vector
    RequestIrq, FreeIrq, Msi,
    // iommufd (iommufd.h)
    IoasAlloc, IoasAllow, IoasMap, IoasUnmap, HwptAlloc, Attach, Replace, Detach, MsiIova
  };
  enum class Dir : uint8_t { Bidirectional, ToDevice, FromDevice };
  // A VMA's protection (mmap/mprotect prot=); the replayer turns it into the process model's own.
  struct Prot {
    bool read = true, write = true, exec = false;
  };

  uint64_t time_ps = 0;  // as written (relative to the previous event if `relative`)
  bool relative = false;
  uint64_t at_ps = 0;    // resolved: from the start of the trace
  uint64_t line = 0;     // 1-based line in the file
  std::string actor;     // "host" or an endpoint name
  Op op = Op::Wait;

  // Fields; which ones are meaningful depends on op (see README).
  std::string buf;          // handle name (dma_map, dma_unmap, mmap, touch, munmap, mprotect, read/write buf=)
  std::string mm;           // process name: mmap, bind, unbind, exit mm=; read/write sva= (empty: no SVA)
  std::string iova_of;      // read/write iova=@name: the IOVA of that handle's last mapping
  bool has_iova = false;    // read/write iova=<addr>
  uint64_t iova = 0;
  uint64_t offset = 0;
  uint64_t size = 0;        // touch, munmap, mprotect: 0 means up to the end of the buffer
  uint64_t count = 1;
  uint64_t stride = 0;      // distance between burst elements; defaults to size (back-to-back)
  bool has_pasid = false;
  uint32_t pasid = 0;
  Dir dir = Dir::Bidirectional;
  uint64_t page_size = 0;   // 0: no limit (largest page that fits, as Linux)
  std::string dev;          // dma_map: endpoint whose DMA domain maps it (empty: the workload's endpoint);
                            // bind, unbind: the endpoint
  uint64_t wait_ps = 0;     // wait time=
  Prot prot;                // mmap, mprotect
  bool populate = false;    // mmap populate=1
  bool write_access = false;  // touch write=1
  // iommufd ops: object names (id= names the object an alloc creates; ioas=, pt= refer to one).
  std::string id, ioas, pt;
  bool has_size = false;      // size= given (ioas_unmap without iova= and size= unmaps everything)
  bool has_expect = false;    // expect=: the result the op must return, else the run fails
  int expect = 0;             // 0 or a negative errno
  uint16_t vector = 0;        // request_irq, free_irq, msi: the MSI-X vector

  bool is_device_op() const { return op == Op::Read || op == Op::Write; }
  bool is_iommufd_op() const { return op >= Op::IoasAlloc; }
};

const char* op_name(TraceEvent::Op op);
// The kernel's name of errno `err` (positive: EINVAL), or nullptr for one not listed here.
const char* errno_name(int err);
// "0", "-EINVAL" or "-<n>": a result code as traces and logs write it.
std::string result_name(int err);

class TraceReader {
 public:
  static constexpr size_t kMaxLine = 4096;  // longer lines are an error, so memory stays bounded

  // Opens `path` (a file or a FIFO); throws TraceError if it cannot be read.
  explicit TraceReader(std::string path);
  // Parses the next event into `ev`; false at end of file. Throws TraceError on a malformed line.
  bool next(TraceEvent& ev);

  const std::string& path() const { return path_; }
  uint64_t line() const { return line_; }
  // "<file>:<line>: " for messages about the event last returned.
  std::string where(uint64_t line) const { return path_ + ":" + std::to_string(line) + ": "; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void parse(std::string_view text, TraceEvent& ev);

  std::string path_;
  std::ifstream in_;
  std::array<char, kMaxLine + 1> buf_{};
  uint64_t line_ = 0;
  uint64_t prev_ps_ = 0;
};

}  // namespace iommusim::host
