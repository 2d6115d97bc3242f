// Import of Linux iommu trace events (tracefs `trace` text or `trace-cmd report` output) into the
// trace format of traces/README.md. docs/ftrace-import.md describes the accepted layouts, the
// events and the rules that attribute maps to devices and synthesise their DMA.
//
// Not modelled: the real DMA (ftrace has no event for it; it is synthesised by rule), the mapping's
// direction and protection (the map event does not print them), domain identity (map and unmap
// carry no device or domain), and every event outside the iommu system (skipped and counted).
#pragma once
#include <cstdint>
#include <istream>
#include <ostream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iommusim::ftrace {

// Bad input; what() names the file and line: "<file>:<line>: <what>".
struct ImportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One line of the capture, as parsed by parse_line().
struct Event {
  enum class Kind : uint8_t {
    AddToGroup, RemoveFromGroup, Attach, Detach, Map, Unmap, IoPageFault,
    Other,  // an event of another system or name: skipped by the converter
    Lost,   // tracefs "CPU:<n> [LOST <m> EVENTS]": the ring buffer overflowed
  };
  Kind kind = Kind::Other;
  std::string name;        // the event name as printed ("map", "sched_switch")
  std::string task;        // comm, e.g. "kworker/u16:2" or "<idle>"
  uint32_t pid = 0;
  uint32_t cpu = 0;
  uint64_t ts_ps = 0;      // timestamp, seconds with up to 12 decimals, in ps
  // Fields of the iommu events (which ones are set depends on kind).
  int group = -1;          // groupID=
  std::string device;      // device=, or io_page_fault's device
  std::string driver;      // io_page_fault's driver (may be empty)
  uint64_t iova = 0, paddr = 0, size = 0, unmapped = 0;
  uint32_t flags = 0;      // io_page_fault: IOMMU_FAULT_WRITE (0x1) or IOMMU_FAULT_READ (0x0)
  uint64_t lost = 0;       // Kind::Lost: events the kernel dropped
};

// Thrown by parse_line for a line that is neither an event nor a known header; what() says what
// was expected (without file and line).
struct LineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses one line of either layout into `ev`. Returns false for lines without an event (blank,
// '#' headers, trace-cmd's "cpus=", "version =" and "CPU n is empty" lines). Throws LineError on
// anything else that does not parse, including an iommu event whose text is not the kernel's.
bool parse_line(std::string_view line, Event& ev);

// The endpoint name a device gets without a map file: a PCI name 0000:03:00.0 becomes
// pci-0000-03-00.0; other names have characters a trace name cannot hold replaced by '_'.
std::string default_endpoint_name(std::string_view device);

// Map file: "<device> <endpoint>" lines, and "task <comm>[*] <device>" attribution rules.
struct MapFile {
  struct TaskRule {
    std::string comm;   // exact, or a prefix when `prefix`
    bool prefix = false;
    std::string device;  // the capture's device name the task's maps and unmaps go to
    uint64_t line = 0;
  };
  std::map<std::string, std::string> devices;
  std::vector<TaskRule> tasks;
  bool empty() const { return devices.empty() && tasks.empty(); }
};
MapFile parse_map_file(std::istream& in, const std::string& path);  // throws ImportError

struct Options {
  enum class Dma : uint8_t { Read, Write, None };
  Dma dma = Dma::Read;                  // what the device does to each mapped buffer
  uint64_t dma_delay_ps = 1'000'000;    // DMA at map + this, at most halfway to the unmap
  uint64_t fault_size = 64;             // bytes of the access replayed for an io_page_fault
  MapFile map;
  // Endpoints of the target platform (--platform), in config order; empty: no platform given.
  std::vector<std::string> platform_endpoints;
  std::string source_name;              // shown in the output's header comment
};

struct Result {
  // Devices that act in the output, in order of first appearance, with their endpoint names.
  std::vector<std::pair<std::string, std::string>> devices;
  std::string device_note;              // how the names were chosen (map file, platform, default)
  uint64_t lines = 0, events = 0;       // lines read, event lines
  std::map<std::string, uint64_t> converted;  // iommu events used, by name
  std::map<std::string, uint64_t> skipped;    // other events, by name
  uint64_t lost = 0;                    // events the kernel reported lost
  uint64_t clamped = 0;                 // events whose timestamp went backwards (kept in file order)
  uint64_t unmatched_unmaps = 0;        // unmaps of nothing mapped in the capture
  uint64_t partial_unmaps = 0;          // mappings an unmap covered only partly (left mapped)
  uint64_t maps = 0, unmaps = 0, dmas = 0, faults = 0;  // ops written
  std::string summary() const;          // multi-line report for stderr
};

// Converts the capture read from `in` (named `path` in messages), writing the trace to `out` as it
// goes: memory stays bounded by the ops within 2 x dma_delay of capture time, not the capture's
// length. Throws ImportError; `out` then holds a partial trace.
Result convert(std::istream& in, const std::string& path, const Options& opt, std::ostream& out);
// The same into a string.
std::string convert_to_string(std::istream& in, const std::string& path, const Options& opt, Result* result = nullptr);

}  // namespace iommusim::ftrace
