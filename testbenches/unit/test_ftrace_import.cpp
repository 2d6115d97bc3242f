// Unit tests of the ftrace importer (platforms/ftrace_import*): the line parser on lines in the
// kernel's exact layouts (tracefs trace, trace-cmd report) and TP_printk texts, the converter's
// attribution and DMA rules on a hand-built capture with its hand-derived output, errors, and the
// shipped sample, which must convert to exactly the shipped trace.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "models/host/trace_reader.h"
#include "platforms/ftrace_import.h"

namespace iommusim::ftrace {
namespace {
using Kind = Event::Kind;

Event parse(const std::string& line) {
  Event ev;
  EXPECT_TRUE(parse_line(line, ev)) << line;
  return ev;
}

std::string line_error(const std::string& line) {
  Event ev;
  try {
    parse_line(line, ev);
  } catch (const LineError& e) {
    return e.what();
  }
  return "no error";
}

// Lines as tracefs prints them: "%16s-%-7d [%03d] <5 flags> %5lu.%06lu: <event>: <TP_printk>".
TEST(FtraceLine, TracefsMapCurrentFormat) {
  const Event ev = parse(
      "   kworker/u16:5-412     [001] .....  4821.306797: map: IOMMU: iova=0x0000fffffffff000 - 0x0001000000000000 "
      "paddr=0x0000000123412000 size=4096");
  EXPECT_EQ(ev.kind, Kind::Map);
  EXPECT_EQ(ev.task, "kworker/u16:5");
  EXPECT_EQ(ev.pid, 412u);
  EXPECT_EQ(ev.cpu, 1u);
  EXPECT_EQ(ev.ts_ps, 4821'306797'000000ull);
  EXPECT_EQ(ev.iova, 0xfffffffff000ull);
  EXPECT_EQ(ev.paddr, 0x123412000ull);
  EXPECT_EQ(ev.size, 4096u);
}

TEST(FtraceLine, TracefsBeforeTheRangeWasPrinted) {
  // Kernels before 5.15: "IOMMU: iova=0x%016llx paddr=0x%016llx size=%zu", unmap without the range.
  const Event m = parse("            bash-2841    [005] ....  4821.306261: map: IOMMU: iova=0x00000000ffffc000 "
                        "paddr=0x0000000123400000 size=16384");
  EXPECT_EQ(m.iova, 0xffffc000u);
  EXPECT_EQ(m.size, 16384u);
  const Event u = parse("          <idle>-0       [001] d.h1  4821.306947: unmap: IOMMU: iova=0x0000ffffffffd000 "
                        "size=4096 unmapped_size=4096");
  EXPECT_EQ(u.kind, Kind::Unmap);
  EXPECT_EQ(u.task, "<idle>");
  EXPECT_EQ(u.pid, 0u);
  EXPECT_EQ(u.iova, 0xffffffffd000u);
  EXPECT_EQ(u.unmapped, 4096u);
}

TEST(FtraceLine, TracefsUnmapGroupAttachFault) {
  const Event u = parse(" napi/enp3s0-819-1502    [000] b....  4821.314142: unmap: IOMMU: iova=0x00000000fffe4000 - "
                        "0x00000000fffe5000 size=4096 unmapped_size=2048");
  EXPECT_EQ(u.task, "napi/enp3s0-819");  // the task name holds dashes: the pid is after the last
  EXPECT_EQ(u.pid, 1502u);
  EXPECT_EQ(u.size, 4096u);
  EXPECT_EQ(u.unmapped, 2048u);
  const Event g = parse("            bash-2841    [005] .....  4821.306112: add_device_to_group: IOMMU: groupID=12 "
                        "device=0000:03:00.0");
  EXPECT_EQ(g.kind, Kind::AddToGroup);
  EXPECT_EQ(g.group, 12);
  EXPECT_EQ(g.device, "0000:03:00.0");
  EXPECT_EQ(parse("            bash-2841    [005] .....  4821.306112: remove_device_from_group: IOMMU: groupID=3 "
                  "device=0000:00:14.0").kind,
            Kind::RemoveFromGroup);
  const Event a = parse("            bash-2841    [005] .....  4821.306121: attach_device_to_domain: IOMMU: "
                        "device=0000:03:00.0");
  EXPECT_EQ(a.kind, Kind::Attach);
  EXPECT_EQ(a.device, "0000:03:00.0");
  const Event f = parse("          <idle>-0       [004] d.h1.  4821.314166: io_page_fault: IOMMU:tg3 0000:03:00.0 "
                        "iova=0x00000000fffe4040 flags=0x0001");
  EXPECT_EQ(f.kind, Kind::IoPageFault);
  EXPECT_EQ(f.driver, "tg3");
  EXPECT_EQ(f.device, "0000:03:00.0");
  EXPECT_EQ(f.iova, 0xfffe4040u);
  EXPECT_EQ(f.flags, 1u);
  // A device without a driver: dev_driver_string() is "", so "IOMMU: <device>".
  const Event nd = parse("          <idle>-0       [004] d.h1.  4821.314166: io_page_fault: IOMMU: 0000:05:00.0 "
                         "iova=0x0000000000001000 flags=0x0000");
  EXPECT_EQ(nd.driver, "");
  EXPECT_EQ(nd.device, "0000:05:00.0");
  EXPECT_EQ(nd.flags, 0u);
}

// trace-cmd report: "cpus=N" first, no flags column, the event name padded to a column.
TEST(FtraceLine, TraceCmdReportLayout) {
  Event ev;
  EXPECT_FALSE(parse_line("cpus=8", ev));
  EXPECT_FALSE(parse_line("version = 6", ev));
  EXPECT_FALSE(parse_line("CPU 3 is empty", ev));
  const Event m = parse("             fio-3001  [006]  4821.314099: map:                  IOMMU: iova=0x0000fffffffa0000 - "
                        "0x0000fffffffb0000 paddr=0x00000001235d7000 size=65536");
  EXPECT_EQ(m.kind, Kind::Map);
  EXPECT_EQ(m.task, "fio");
  EXPECT_EQ(m.cpu, 6u);
  EXPECT_EQ(m.size, 65536u);
  const Event g = parse("            bash-2841  [005]  4821.306112: add_device_to_group:  IOMMU: groupID=12 device=0000:03:00.0");
  EXPECT_EQ(g.group, 12);
  // trace-cmd report -t: nanosecond timestamps; a task name with a space.
  const Event t = parse("     Web Content-7311  [002]  4821.306112345: attach_device_to_domain: IOMMU: device=0000:0a:00.1");
  EXPECT_EQ(t.task, "Web Content");
  EXPECT_EQ(t.ts_ps, 4821'306112345'000ull);
  EXPECT_EQ(t.device, "0000:0a:00.1");
}

TEST(FtraceLine, HeadersOtherEventsAndLostEvents) {
  Event ev;
  EXPECT_FALSE(parse_line("# tracer: nop", ev));
  EXPECT_FALSE(parse_line("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION", ev));
  EXPECT_FALSE(parse_line("   \r", ev));
  const Event o = parse("          <idle>-0       [001] d..2.  4821.306950: sched_switch: prev_comm=swapper/1 prev_pid=0 "
                        "prev_prio=120 prev_state=R ==> next_comm=fio next_pid=3001 next_prio=120");
  EXPECT_EQ(o.kind, Kind::Other);
  EXPECT_EQ(o.name, "sched_switch");
  const Event l = parse("CPU:3 [LOST 120 EVENTS]");
  EXPECT_EQ(l.kind, Kind::Lost);
  EXPECT_EQ(l.lost, 120u);
}

TEST(FtraceLine, ErrorsSayWhatWasExpected) {
  EXPECT_NE(line_error("hello world").find("expected an event line '<task>-<pid> [<cpu>]"), std::string::npos);
  EXPECT_NE(line_error("            bash-2841    [005] .....  4821.3061x2: map: IOMMU: iova=0x0").find("expected a timestamp"),
            std::string::npos);
  EXPECT_EQ(line_error("            bash-2841    [005] .....  4821.306261: map: IOMMU: iova=0x00000000ffffc000 size=4096"),
            "map: expected ' paddr=' at ' size=4096' (format: IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu)");
  EXPECT_NE(line_error("            bash-2841    [005] .....  4821.306261: map: IOMMU: iova=0x0000000000001000 - "
                       "0x0000000000003000 paddr=0x0000000000001000 size=4096")
                .find("end IOVA is not iova + size"),
            std::string::npos);
  EXPECT_NE(line_error("          <idle>-0       [004] d.h1.  4821.314166: io_page_fault: IOMMU:tg3 0000:03:00.0 "
                       "iova=0x00000000fffe4040 flags=0x0001 extra")
                .find("expected the end of the line"),
            std::string::npos);
  EXPECT_EQ(line_error("            bash-2841    [005] .....  4821.306261: unmap: IOMMU: iova=0xfffffffffffff000 "
                       "size=8192 unmapped_size=8192"),
            "unmap: iova + size is beyond 2^64");
  EXPECT_NE(line_error("CPU:3 [LOST many EVENTS]").find("expected 'CPU:<n> [LOST <m> EVENTS]'"), std::string::npos);
}

TEST(FtraceNames, DefaultEndpointNames) {
  EXPECT_EQ(default_endpoint_name("0000:03:00.0"), "pci-0000-03-00.0");
  EXPECT_EQ(default_endpoint_name("0000:0a:1f.7"), "pci-0000-0a-1f.7");
  EXPECT_EQ(default_endpoint_name("ff100000.dma"), "ff100000.dma");
  EXPECT_EQ(default_endpoint_name("1c00000.dma"), "dev_1c00000.dma");
  EXPECT_EQ(default_endpoint_name("gpu@1:2"), "gpu_1_2");
}

MapFile map_of(const std::string& text) {
  std::istringstream in(text);
  return parse_map_file(in, "m.map");
}

std::string map_error(const std::string& text) {
  try {
    map_of(text);
  } catch (const ImportError& e) {
    return e.what();
  }
  return "no error";
}

TEST(FtraceMapFile, DevicesAndTaskRules) {
  const MapFile m = map_of("# comment\n0000:01:00.0 nic0   # the NIC\n\ntask napi/eth0* 0000:01:00.0\ntask fio 0000:02:00.0\n");
  ASSERT_EQ(m.devices.size(), 1u);
  EXPECT_EQ(m.devices.at("0000:01:00.0"), "nic0");
  ASSERT_EQ(m.tasks.size(), 2u);
  EXPECT_EQ(m.tasks[0].comm, "napi/eth0");
  EXPECT_TRUE(m.tasks[0].prefix);
  EXPECT_EQ(m.tasks[0].line, 4u);
  EXPECT_FALSE(m.tasks[1].prefix);
  EXPECT_EQ(m.tasks[1].device, "0000:02:00.0");
  EXPECT_EQ(map_error("0000:01:00.0 nic0 extra\n"), "m.map:1: expected '<device> <endpoint>' or 'task <comm>[*] <device>'");
  EXPECT_EQ(map_error("\n0000:01:00.0 0nic\n"),
            "m.map:2: '0nic' is not a valid endpoint name (a letter or '_', then letters, digits, '_', '-', '.')");
  EXPECT_EQ(map_error("a nic0\na nic1\n"), "m.map:2: device a is mapped twice");
  EXPECT_EQ(map_error("task fio\n"), "m.map:1: expected 'task <comm>[*] <device>'");
}

// A capture exercising every rule; the expected output below is derived by hand in the comments.
constexpr const char* kCapture =
    "# tracer: nop\n"
    "            bash-100     [000] .....   100.000000: attach_device_to_domain: IOMMU: device=0000:01:00.0\n"
    // b1: attributed to the device attached last (01); never unmapped: DMA at 10 + 1 us.
    "            bash-100     [000] .....   100.000010: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 "
    "paddr=0x0000000080000000 size=4096\n"
    "            bash-100     [000] .....   100.000012: attach_device_to_domain: IOMMU: device=0000:02:00.0\n"
    // b2: the task rule 'fio' gives 01 although 02 was attached last (old format, no range).
    "             fio-200     [001] .....   100.000020: map: IOMMU: iova=0x00000000ffffc000 paddr=0x0000000080001000 "
    "size=8192\n"
    "          <idle>-0       [001] d..2.   100.000030: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 "
    "prev_state=R ==> next_comm=fio next_pid=200 next_prio=120\n"
    // b3: device 02, the same IOVA as b1 in the other domain.
    "   kworker/0:1-30      [000] .....   100.000040: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 "
    "paddr=0x0000000080004000 size=4096\n"
    // Matches b1 and b3 exactly: the attributed device (02, attached last) wins: b3, DMA at 41 us.
    "          <idle>-0       [001] d.h1.   100.000050: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 "
    "size=4096 unmapped_size=4096\n"
    // b4, b5: one scatterlist, two map events and one unmap at the time of the second map; DMA at
    // map + half the time to the unmap: 60.5 us and 61 us.
    "   kworker/0:1-30      [000] .....   100.000060: map: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffff1000 "
    "paddr=0x0000000080008000 size=4096\n"
    "   kworker/0:1-30      [000] .....   100.000061: map: IOMMU: iova=0x00000000ffff1000 - 0x00000000ffff2000 "
    "paddr=0x000000008000a000 size=4096\n"
    "          <idle>-0       [000] d.h1.   100.000061: unmap: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffff2000 "
    "size=8192 unmapped_size=8192\n"
    // Nothing mapped there in the capture: skipped and counted.
    "          <idle>-0       [000] d.h1.   100.000070: unmap: IOMMU: iova=0x00000000dead0000 - 0x00000000dead1000 "
    "size=4096 unmapped_size=4096\n"
    // A write into b3 after its unmap: iova=@b3 offset=16; an address never mapped: raw.
    "          <idle>-0       [001] d.h1.   100.000080: io_page_fault: IOMMU:drv 0000:02:00.0 iova=0x00000000fffff010 "
    "flags=0x0001\n"
    "          <idle>-0       [001] d.h1.   100.000090: io_page_fault: IOMMU: 0000:02:00.0 iova=0x0000000000001000 "
    "flags=0x0000\n"
    "CPU:1 [LOST 5 EVENTS]\n"
    // Back in time (another CPU): clamped to 90 us. Only b2 (device 01) is inside: unmapped, DMA at 21 us.
    "          <idle>-0       [002] d.h1.   100.000085: unmap: IOMMU: iova=0x00000000ffffc000 size=8192 "
    "unmapped_size=8192\n";

constexpr const char* kConverted =
    "# Converted from t.txt by iommusim import-ftrace (docs/ftrace-import.md).\n"
    "# DMA rule: each buffer is read in full by its device at map + 1us (at most halfway to its unmap); "
    "io_page_fault: a 64B access at the faulting IOVA.\n"
    "# device 0000:01:00.0 = nic0 (first in line 2)\n"
    "10us host dma_map buf=b1 size=4KiB dev=nic0  # line 3: map iova=0xfffff000\n"
    "11us nic0 read buf=b1 size=4KiB  # DMA rule, map at line 3\n"
    "20us host dma_map buf=b2 size=8KiB dev=nic0  # line 5: map iova=0xffffc000\n"
    "21us nic0 read buf=b2 size=8KiB  # DMA rule, map at line 5\n"
    "# device 0000:02:00.0 = ssd0 (first in line 4)\n"
    "40us host dma_map buf=b3 size=4KiB dev=ssd0  # line 7: map iova=0xfffff000\n"
    "41us ssd0 read buf=b3 size=4KiB  # DMA rule, map at line 7\n"
    "50us host dma_unmap buf=b3  # line 8: unmap iova=0xfffff000\n"
    "60us host dma_map buf=b4 size=4KiB dev=ssd0  # line 9: map iova=0xffff0000\n"
    "60.5us ssd0 read buf=b4 size=4KiB  # DMA rule, map at line 9\n"
    "61us host dma_map buf=b5 size=4KiB dev=ssd0  # line 10: map iova=0xffff1000\n"
    "61us host dma_unmap buf=b4  # line 11: unmap iova=0xffff0000\n"
    "61us ssd0 read buf=b5 size=4KiB  # DMA rule, map at line 10\n"
    "61us host dma_unmap buf=b5  # line 11: unmap iova=0xffff0000\n"
    "80us ssd0 write iova=@b3 offset=16B size=64B  # line 13: io_page_fault iova=0xfffff010 flags=0x1\n"
    "90us ssd0 read iova=0x1000 size=64B  # line 14: io_page_fault iova=0x1000 flags=0x0\n"
    "90us host dma_unmap buf=b2  # line 16: unmap iova=0xffffc000\n";

Options options() {
  Options o;
  o.map = map_of("0000:01:00.0 nic0\n0000:02:00.0 ssd0\ntask fio 0000:01:00.0\n");
  o.source_name = "t.txt";
  return o;
}

struct Converted : Result {
  std::string text;
};

Converted convert_text(const std::string& text, const Options& o) {
  std::istringstream in(text);
  Converted c;
  c.text = convert_to_string(in, "t.txt", o, &c);
  return c;
}

std::string convert_error(const std::string& text, const Options& o) {
  try {
    convert_text(text, o);
  } catch (const ImportError& e) {
    return e.what();
  }
  return "no error";
}

TEST(FtraceConvert, RulesOnAHandBuiltCapture) {
  const Converted r = convert_text(kCapture, options());
  EXPECT_EQ(r.text, kConverted);
  EXPECT_EQ(r.lines, 16u);
  EXPECT_EQ(r.events, 14u);
  EXPECT_EQ(r.converted.at("map"), 5u);
  EXPECT_EQ(r.converted.at("unmap"), 4u);
  EXPECT_EQ(r.converted.at("attach_device_to_domain"), 2u);
  EXPECT_EQ(r.converted.at("io_page_fault"), 2u);
  EXPECT_EQ(r.skipped.at("sched_switch"), 1u);
  EXPECT_EQ(r.lost, 5u);
  EXPECT_EQ(r.clamped, 1u);
  EXPECT_EQ(r.unmatched_unmaps, 1u);
  EXPECT_EQ(r.partial_unmaps, 0u);
  EXPECT_EQ(r.maps, 5u);
  EXPECT_EQ(r.unmaps, 4u);
  EXPECT_EQ(r.dmas, 5u);
  EXPECT_EQ(r.faults, 2u);
  // The output is a trace the replayer's parser accepts line by line.
  const std::string path = ::testing::TempDir() + "ftrace_convert.trace";
  std::ofstream(path) << r.text;
  host::TraceReader reader(path);
  host::TraceEvent ev;
  int n = 0;
  while (reader.next(ev)) ++n;
  EXPECT_EQ(n, 16);
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[1], (std::pair<std::string, std::string>("0000:02:00.0", "ssd0")));
}

TEST(FtraceConvert, DmaRuleOptions) {
  Options o = options();
  o.dma = Options::Dma::None;
  Converted r = convert_text(kCapture, o);
  EXPECT_EQ(r.dmas, 0u);
  EXPECT_EQ(r.text.find(" read buf="), std::string::npos);
  o.dma = Options::Dma::Write;
  o.dma_delay_ps = 3'000'000;
  o.fault_size = 4;
  r = convert_text(kCapture, o);
  EXPECT_NE(r.text.find("\n13us nic0 write buf=b1 size=4KiB"), std::string::npos);   // 10 + 3 us
  EXPECT_NE(r.text.find("\n43us ssd0 write buf=b3 size=4KiB"), std::string::npos);   // min(3, 10/2) us
  EXPECT_NE(r.text.find("\n80us ssd0 write iova=@b3 offset=16B size=4B"), std::string::npos);
}

TEST(FtraceConvert, DeviceNamesWithoutAMapFile) {
  Options o;
  o.map = map_of("task fio 0000:01:00.0\n");
  Converted r = convert_text(kCapture, o);
  EXPECT_NE(r.text.find("10us host dma_map buf=b1 size=4KiB dev=pci-0000-01-00.0"), std::string::npos);
  EXPECT_NE(r.text.find("80us pci-0000-02-00.0 write"), std::string::npos);
  // Platform endpoints without those names: assigned in order of first appearance.
  o.platform_endpoints = {"nvme0", "nic0", "gpu0"};
  r = convert_text(kCapture, o);
  ASSERT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[0], (std::pair<std::string, std::string>("0000:01:00.0", "nvme0")));
  EXPECT_EQ(r.devices[1], (std::pair<std::string, std::string>("0000:02:00.0", "nic0")));
  EXPECT_EQ(r.device_note, "default names the platform has, else its unused endpoints in config order");
  // A default name the platform has is kept; the other device takes the first unused endpoint.
  o.platform_endpoints = {"nvme0", "pci-0000-02-00.0"};
  r = convert_text(kCapture, o);
  EXPECT_EQ(r.devices[0], (std::pair<std::string, std::string>("0000:01:00.0", "nvme0")));
  EXPECT_EQ(r.devices[1], (std::pair<std::string, std::string>("0000:02:00.0", "pci-0000-02-00.0")));
  o.platform_endpoints = {"nic0"};
  EXPECT_EQ(convert_error(kCapture, o), "t.txt:4: device 0000:02:00.0 is the capture's device 2 but the platform has 1 "
                                        "endpoints (nic0); give a map file");
  o = options();
  o.platform_endpoints = {"nic0", "nvme0"};
  EXPECT_EQ(convert_error(kCapture, o),
            "t.txt:4: device 0000:02:00.0 maps to endpoint 'ssd0', which the platform does not have (endpoints: nic0, nvme0)");
}

TEST(FtraceConvert, ErrorsNameFileAndLine) {
  const Options o = options();
  EXPECT_EQ(convert_error("# tracer: nop\n             fio-9 [000] ..... 1.000000: map: IOMMU: iova=0x1000 - 0x2000 "
                          "paddr=0x0 size=4096\n             x-9 [000] ..... 1.000001: map: IOMMU: iova=0x1000 - 0x2000 "
                          "paddr=0x0 size=4096\n",
                          o),
            "t.txt:3: map cannot be attributed to a device: no attach_device_to_domain before it and no 'task' rule of "
            "the map file matches task 'x'");
  EXPECT_EQ(convert_error("\n\nnot a trace line\n", o),
            "t.txt:3: expected an event line '<task>-<pid> [<cpu>] [<flags>] <seconds>.<fraction>: <event>: <text>' "
            "(tracefs trace or trace-cmd report)");
  Options nomap = o;
  nomap.map.devices.erase("0000:02:00.0");
  EXPECT_EQ(convert_error(kCapture, nomap), "t.txt:4: device 0000:02:00.0 has no line in the map file");
}

// The shipped sample converts to exactly the shipped trace: traces/ftrace-sample.trace cannot go stale.
TEST(FtraceConvert, ShippedSampleConvertsToTheShippedTrace) {
  const std::string dir = std::string(IOMMUSIM_SOURCE_DIR) + "/traces/";
  std::ifstream mf(dir + "ftrace-sample.map");
  ASSERT_TRUE(mf);
  Options o;
  o.map = parse_map_file(mf, "ftrace-sample.map");
  o.source_name = "ftrace-sample.txt";
  std::ifstream in(dir + "ftrace-sample.txt");
  ASSERT_TRUE(in);
  Result r;
  const std::string text = convert_to_string(in, "ftrace-sample.txt", o, &r);
  std::ifstream shipped(dir + "ftrace-sample.trace");
  ASSERT_TRUE(shipped);
  std::istringstream got(text);
  std::string a, b;
  for (int n = 1;; ++n) {
    const bool more_a = static_cast<bool>(std::getline(got, a)), more_b = static_cast<bool>(std::getline(shipped, b));
    ASSERT_EQ(more_a, more_b) << "line " << n << ": the conversion and traces/ftrace-sample.trace differ in length";
    if (!more_a) break;
    ASSERT_EQ(a, b) << "line " << n << " of traces/ftrace-sample.trace is stale; regenerate: iommusim import-ftrace "
                       "traces/ftrace-sample.txt --map traces/ftrace-sample.map -o traces/ftrace-sample.trace";
  }
  EXPECT_EQ(r.unmatched_unmaps + r.partial_unmaps + r.lost + r.clamped, 0u);
}

}  // namespace
}  // namespace iommusim::ftrace
