// Unit tests for the trace parser (models/host/trace_reader.cpp): every op and key, units, times, errors, streaming,
// and the process and SVA ops (mmap, touch, munmap, mprotect, bind, unbind, exit, sva=).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include "models/host/trace_reader.h"

namespace iommusim::host {
namespace {

const std::string kHostOps =
    "(host ops: dma_map, dma_unmap, mmap, touch, munmap, mprotect, bind, unbind, exit, wait, request_irq, "
    "free_irq, ioas_alloc, ioas_allow, ioas_map, ioas_unmap, hwpt_alloc, attach, replace, detach, msi_iova)";
namespace fs = std::filesystem;
using Op = TraceEvent::Op;

class TraceReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trace_reader_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& text, const std::string& name = "t.trace") {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::vector<TraceEvent> read_all(const std::string& text) {
    TraceReader r(write(text));
    std::vector<TraceEvent> v;
    TraceEvent ev;
    while (r.next(ev)) v.push_back(ev);
    return v;
  }
  // The message of the TraceError reading `text` raises ("" if none).
  std::string error_of(const std::string& text) {
    try {
      read_all(text);
    } catch (const TraceError& e) {
      return e.what();
    }
    return "";
  }
  std::string path() const { return (dir_ / "t.trace").string(); }
  fs::path dir_;
};

TEST_F(TraceReaderTest, HostOps) {
  const auto v = read_all(
      "0ns host dma_map buf=rx size=8KiB dir=from_device page_size=2MiB dev=nic1\n"
      "1us host dma_map buf=tx size=4096\n"
      "2us host dma_unmap buf=rx\n"
      "3us host wait time=1.5us\n");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].op, Op::DmaMap);
  EXPECT_EQ(v[0].actor, "host");
  EXPECT_EQ(v[0].buf, "rx");
  EXPECT_EQ(v[0].size, 8192u);
  EXPECT_EQ(v[0].dir, TraceEvent::Dir::FromDevice);
  EXPECT_EQ(v[0].page_size, 2u << 20);
  EXPECT_EQ(v[0].dev, "nic1");
  EXPECT_EQ(v[0].line, 1u);
  EXPECT_EQ(v[1].dir, TraceEvent::Dir::Bidirectional);  // defaults
  EXPECT_EQ(v[1].page_size, 0u);
  EXPECT_EQ(v[1].dev, "");
  EXPECT_EQ(v[1].at_ps, 1000000u);
  EXPECT_EQ(v[2].op, Op::DmaUnmap);
  EXPECT_EQ(v[2].buf, "rx");
  EXPECT_EQ(v[3].op, Op::Wait);
  EXPECT_EQ(v[3].wait_ps, 1500000u);
  EXPECT_EQ(read_all("0 host dma_map buf=a size=1 dir=to_device\n")[0].dir, TraceEvent::Dir::ToDevice);
  EXPECT_EQ(read_all("0 host dma_map buf=a size=1 dir=bidirectional page_size=4KiB\n")[0].page_size, 4096u);
  EXPECT_EQ(read_all("0 host dma_map buf=a size=1 page_size=1GiB\n")[0].page_size, 1u << 30);
}

TEST_F(TraceReaderTest, DeviceOps) {
  const auto v = read_all(
      "0ns nic0 read buf=tx offset=256 size=64 pasid=5 count=4 stride=1KiB\n"
      "0ns nic0 write iova=0xffff8000 size=2KiB\n"
      "0ns nic-1 read iova=@tx size=64\n"
      "0ns nic0 write buf=rx size=128 count=3\n"
      "0ns nic0 wait time=80ns\n");
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].op, Op::Read);
  EXPECT_EQ(v[0].actor, "nic0");
  EXPECT_EQ(v[0].buf, "tx");
  EXPECT_EQ(v[0].offset, 256u);
  EXPECT_EQ(v[0].size, 64u);
  EXPECT_TRUE(v[0].has_pasid);
  EXPECT_EQ(v[0].pasid, 5u);
  EXPECT_EQ(v[0].count, 4u);
  EXPECT_EQ(v[0].stride, 1024u);
  EXPECT_EQ(v[1].op, Op::Write);
  EXPECT_TRUE(v[1].has_iova);
  EXPECT_EQ(v[1].iova, 0xffff8000u);
  EXPECT_EQ(v[1].size, 2048u);
  EXPECT_FALSE(v[1].has_pasid);
  EXPECT_EQ(v[1].count, 1u);
  EXPECT_EQ(v[1].stride, 2048u);  // defaults to size
  EXPECT_EQ(v[2].actor, "nic-1");
  EXPECT_EQ(v[2].iova_of, "tx");
  EXPECT_FALSE(v[2].has_iova);
  EXPECT_EQ(v[3].stride, 128u);  // back-to-back burst
  EXPECT_EQ(v[4].op, Op::Wait);
  EXPECT_EQ(v[4].wait_ps, 80000u);
  EXPECT_EQ(read_all("0 d read iova=4096 size=1 stride=0 count=9\n")[0].stride, 0u);  // same address 9 times
}

TEST_F(TraceReaderTest, TimesAndUnits) {
  const auto v = read_all(
      "+200ns host wait time=0\n"  // relative first event: from the start
      "1.5us host wait time=1ps\n"
      "+500ps host wait time=2ms\n"
      "+0 host wait time=1s\n"
      "2ms host wait time=0.5ns\n"
      "2ms host wait time=0ns\n");  // equal times are in order
  ASSERT_EQ(v.size(), 6u);
  EXPECT_TRUE(v[0].relative);
  EXPECT_EQ(v[0].time_ps, 200000u);
  EXPECT_EQ(v[0].at_ps, 200000u);
  EXPECT_FALSE(v[1].relative);
  EXPECT_EQ(v[1].at_ps, 1500000u);
  EXPECT_EQ(v[2].time_ps, 500u);
  EXPECT_EQ(v[2].at_ps, 1500500u);
  EXPECT_EQ(v[2].wait_ps, 2000000000u);
  EXPECT_EQ(v[3].at_ps, 1500500u);
  EXPECT_EQ(v[3].wait_ps, 1000000000000u);
  EXPECT_EQ(v[4].at_ps, 2000000000u);
  EXPECT_EQ(v[4].wait_ps, 500u);
  EXPECT_EQ(v[5].at_ps, 2000000000u);
  const auto s = read_all("0 n read iova=1 size=1MiB offset=0x10\n0 n read iova=1 size=1kB\n");
  EXPECT_EQ(s[0].size, 1u << 20);
  EXPECT_EQ(s[0].offset, 16u);
  EXPECT_EQ(s[1].size, 1000u);
}

TEST_F(TraceReaderTest, CommentsBlanksAndLineEndings) {
  const auto v = read_all(
      "# header comment\n"
      "\n"
      "   \t \n"
      "   # indented comment\n"
      "0ns host dma_map buf=a size=4KiB   # trailing comment buf=zzz\n"
      "1us\tnic0\tread\tbuf=a\tsize=64\r\n"  // tabs, CRLF
      "2us nic0 read buf=a size=64");        // no final newline
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].line, 5u);
  EXPECT_EQ(v[0].buf, "a");
  EXPECT_EQ(v[1].line, 6u);
  EXPECT_EQ(v[1].size, 64u);
  EXPECT_EQ(v[2].line, 7u);
  EXPECT_EQ(v[2].at_ps, 2000000u);
  EXPECT_TRUE(read_all("").empty());
  EXPECT_TRUE(read_all("# only\n\n").empty());
}

TEST_F(TraceReaderTest, Errors) {
  const std::string f = path() + ":";
  const std::string pre = "# comment\n0ns host dma_map buf=a size=4KiB\n";  // errors below are on line 3
  const auto err = [&](const std::string& line) { return error_of(pre + line + "\n"); };
  EXPECT_EQ(err("1us host"), f + "3: expected '<time> <actor> <op> key=value ...'");
  EXPECT_EQ(err("5parsecs host wait time=1ns"), f + "3: bad time '5parsecs': unknown time unit (use ps, ns, us, ms, s)");
  EXPECT_EQ(err("80 host wait time=1ns"), f + "3: bad time '80': a time needs a unit (ps, ns, us, ms, s)");
  EXPECT_EQ(err("+x host wait time=1ns"), f + "3: bad time '+x': expected a time such as 80ns, 1.5us or 10ms");
  EXPECT_EQ(err("-1ns host wait time=1ns"), f + "3: bad time '-1ns': a time cannot be negative");
  EXPECT_EQ(error_of("2us host wait time=1ns\n1us host wait time=1ns\n"),
            f + "2: time 1us is before the previous event's 2us (events must be in time order)");
  EXPECT_EQ(err("0 9nic read iova=0 size=1"), f + "3: bad actor name '9nic'");
  EXPECT_EQ(err("0 host munmap_all buf=a"), f + "3: unknown op 'munmap_all' for host " + kHostOps);
  EXPECT_EQ(err("0 host read iova=0 size=1"), f + "3: unknown op 'read' for host " + kHostOps);
  EXPECT_EQ(err("0 nic0 dma_map buf=b size=1"),
            f + "3: unknown op 'dma_map' for device 'nic0' (device ops: wait, read, write, msi)");
  EXPECT_EQ(err("0 nic0 read size"), f + "3: expected key=value, got 'size'");
  EXPECT_EQ(err("0 nic0 read =4 size=1"), f + "3: expected key=value, got '=4'");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 foo=2"),
            f + "3: unknown key 'foo' for read (keys: buf, size, iova, offset, pasid, count, stride, sva)");
  EXPECT_EQ(err("0 nic0 write buf=a size=1 dir=to_device"),
            f + "3: unknown key 'dir' for write (keys: buf, size, iova, offset, pasid, count, stride, sva)");
  EXPECT_EQ(err("0 host dma_unmap buf=a size=4KiB"), f + "3: unknown key 'size' for dma_unmap (keys: buf)");
  EXPECT_EQ(err("0 host dma_map buf=b size=1 time=1ns"),
            f + "3: unknown key 'time' for dma_map (keys: buf, size, dir, page_size, dev)");
  EXPECT_EQ(err("0 host wait time=1ns buf=a"), f + "3: unknown key 'buf' for wait (keys: time)");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 size=2"), f + "3: key 'size' given twice");
  EXPECT_EQ(err("0 nic0 read buf= size=1"), f + "3: key 'buf' has no value");
  EXPECT_EQ(err("0 nic0 read buf=a size=4Kb"),
            f + "3: size=4Kb: unknown size unit (use B, KiB, MiB, GiB, TiB, kB, MB, GB)");
  EXPECT_EQ(err("0 nic0 read buf=a size=0"), f + "3: size=0: size must be at least 1 byte");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 offset=-4"), f + "3: offset=-4: a size cannot be negative");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 count=2 stride=1.5B"), f + "3: stride=1.5B: size is not a whole number of bytes");
  EXPECT_EQ(err("0 host dma_map buf=b size=1 page_size=8KiB"), f + "3: page_size=8KiB: page_size must be 4KiB, 2MiB or 1GiB");
  EXPECT_EQ(err("0 host dma_map buf=b size=1 dir=in"), f + "3: dir=in: expected to_device, from_device or bidirectional");
  EXPECT_EQ(err("0 host dma_map buf=a/b size=1"), f + "3: buf=a/b: not a valid buffer name");
  EXPECT_EQ(err("0 host dma_map buf=b size=1 dev=host"), f + "3: dev=host: not a valid endpoint name");
  EXPECT_EQ(err("0 host wait time=5"), f + "3: time=5: a time needs a unit (ps, ns, us, ms, s)");
  EXPECT_EQ(err("0 nic0 read iova=@9 size=1"), f + "3: iova=@9: expected an address or @<buffer name>");
  EXPECT_EQ(err("0 nic0 read iova=zz size=1"), f + "3: iova=zz: expected a non-negative integer");
  EXPECT_EQ(err("0 nic0 read iova=4KiB size=1"), f + "3: iova=4KiB: expected a non-negative integer");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 pasid=1048576"), f + "3: pasid=1048576: PASIDs are 20 bits (at most 1048575)");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 pasid=x"), f + "3: pasid=x: expected a non-negative integer");
  EXPECT_EQ(err("0 nic0 read buf=a size=1 count=0"), f + "3: count=0: count must be at least 1");
  EXPECT_EQ(err("0 host dma_map buf=b"), f + "3: missing key 'size' for dma_map");
  EXPECT_EQ(err("0 host dma_map size=4KiB"), f + "3: missing key 'buf' for dma_map");
  EXPECT_EQ(err("0 host dma_unmap"), f + "3: missing key 'buf' for dma_unmap");
  EXPECT_EQ(err("0 host wait"), f + "3: missing key 'time' for wait");
  EXPECT_EQ(err("0 nic0 read buf=a"), f + "3: missing key 'size' for read");
  EXPECT_EQ(err("0 nic0 write size=1"), f + "3: write needs buf=<name> or iova=<address>");
  EXPECT_EQ(err("0 nic0 read buf=a iova=0x1000 size=1"), f + "3: read takes one of buf= and iova=, not both");
  EXPECT_EQ(err("0 nic0 read buf=a iova=@a size=1"), f + "3: read takes one of buf= and iova=, not both");
  EXPECT_EQ(err("0 nic0 read iova=0 size=1 count=1000000 stride=1PiB"),
            f + "3: burst extent (offset + (count-1)*stride + size) is too large");
  EXPECT_EQ(err("0 nic0 read iova=0 size=" + std::string(TraceReader::kMaxLine, '1')),
            f + "3: line longer than 4096 characters");
  EXPECT_EQ(error_of(pre + "0 host wait time=1ns # ok\n0 host nope\n"), f + "4: unknown op 'nope' for host " + kHostOps);

  try {
    TraceReader r((dir_ / "missing.trace").string());
    FAIL() << "opened a missing file";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "missing.trace").string() + ": cannot open trace file");
  }
}

TEST_F(TraceReaderTest, ProcessAndSvaOps) {
  const auto v = read_all(
      "0 host mmap mm=proc buf=in size=32KiB\n"
      "0 host mmap mm=proc buf=ro size=5000 prot=r populate=1\n"
      "0 host touch buf=in\n"
      "0 host touch buf=in offset=8KiB size=4KiB write=1\n"
      "0 host munmap buf=in offset=16KiB size=16KiB\n"
      "0 host munmap buf=ro\n"
      "0 host mprotect buf=in prot=rx size=4KiB\n"
      "0 host bind dev=acc0 mm=proc\n"
      "0 host unbind mm=proc dev=acc0\n"
      "0 host exit mm=proc\n"
      "0 acc0 read sva=proc buf=in offset=64 size=64 count=2\n"
      "0 acc0 write sva=proc iova=0x7eff0000 size=8\n"
      "0 acc0 read sva=proc iova=@in size=8\n");
  ASSERT_EQ(v.size(), 13u);
  EXPECT_EQ(v[0].op, Op::Mmap);
  EXPECT_EQ(v[0].mm, "proc");
  EXPECT_EQ(v[0].buf, "in");
  EXPECT_EQ(v[0].size, 32768u);
  EXPECT_TRUE(v[0].prot.read && v[0].prot.write && !v[0].prot.exec);  // rw by default
  EXPECT_FALSE(v[0].populate);
  EXPECT_EQ(v[1].size, 5000u);
  EXPECT_TRUE(v[1].prot.read && !v[1].prot.write && !v[1].prot.exec);
  EXPECT_TRUE(v[1].populate);
  EXPECT_EQ(v[2].op, Op::Touch);
  EXPECT_EQ(v[2].offset, 0u);
  EXPECT_EQ(v[2].size, 0u);  // to the end of the buffer
  EXPECT_FALSE(v[2].write_access);
  EXPECT_EQ(v[3].offset, 8192u);
  EXPECT_EQ(v[3].size, 4096u);
  EXPECT_TRUE(v[3].write_access);
  EXPECT_EQ(v[4].op, Op::Munmap);
  EXPECT_EQ(v[4].offset, 16384u);
  EXPECT_EQ(v[4].size, 16384u);
  EXPECT_EQ(v[5].size, 0u);
  EXPECT_EQ(v[6].op, Op::Mprotect);
  EXPECT_TRUE(v[6].prot.read && !v[6].prot.write && v[6].prot.exec);
  EXPECT_EQ(v[7].op, Op::Bind);
  EXPECT_EQ(v[7].dev, "acc0");
  EXPECT_EQ(v[7].mm, "proc");
  EXPECT_EQ(v[8].op, Op::Unbind);
  EXPECT_EQ(v[8].dev, "acc0");
  EXPECT_EQ(v[8].mm, "proc");
  EXPECT_EQ(v[9].op, Op::Exit);
  EXPECT_EQ(v[9].mm, "proc");
  EXPECT_EQ(v[10].op, Op::Read);
  EXPECT_EQ(v[10].mm, "proc");
  EXPECT_EQ(v[10].buf, "in");
  EXPECT_FALSE(v[10].has_pasid);  // the replayer supplies the bind's PASID
  EXPECT_EQ(v[10].stride, 64u);
  EXPECT_EQ(v[11].op, Op::Write);
  EXPECT_TRUE(v[11].has_iova);
  EXPECT_EQ(v[11].iova, 0x7eff0000u);
  EXPECT_EQ(v[12].iova_of, "in");
  EXPECT_EQ(read_all("0 host mprotect buf=a prot=none\n")[0].prot.read, false);
  EXPECT_EQ(read_all("0 host mmap mm=p buf=a size=1 prot=rwx populate=0\n")[0].prot.exec, true);
  EXPECT_EQ(read_all("0 host touch buf=a write=0\n")[0].write_access, false);
  EXPECT_EQ(read_all("0 acc0 read iova=0 size=1\n")[0].mm, "");  // no sva=: not a process access
}

TEST_F(TraceReaderTest, ProcessAndSvaErrors) {
  const std::string f = path() + ":";
  const std::string pre = "0 host mmap mm=proc buf=a size=4KiB\n0 host bind dev=acc0 mm=proc\n";  // errors: line 3
  const auto err = [&](const std::string& line) { return error_of(pre + line + "\n"); };
  EXPECT_EQ(err("0 host mmap buf=b size=4KiB"), f + "3: missing key 'mm' for mmap");
  EXPECT_EQ(err("0 host mmap mm=proc size=4KiB"), f + "3: missing key 'buf' for mmap");
  EXPECT_EQ(err("0 host mmap mm=proc buf=b"), f + "3: missing key 'size' for mmap");
  EXPECT_EQ(err("0 host bind dev=acc0"), f + "3: missing key 'mm' for bind");
  EXPECT_EQ(err("0 host bind mm=proc"), f + "3: missing key 'dev' for bind");
  EXPECT_EQ(err("0 host unbind dev=acc0"), f + "3: missing key 'mm' for unbind");
  EXPECT_EQ(err("0 host exit"), f + "3: missing key 'mm' for exit");
  EXPECT_EQ(err("0 host touch size=1"), f + "3: missing key 'buf' for touch");
  EXPECT_EQ(err("0 host munmap offset=0"), f + "3: missing key 'buf' for munmap");
  EXPECT_EQ(err("0 host mprotect buf=a"), f + "3: missing key 'prot' for mprotect");
  EXPECT_EQ(err("0 host mmap mm=proc buf=b size=4KiB prot=wx"), f + "3: prot=wx: expected none, r, rw, rx or rwx");
  EXPECT_EQ(err("0 host mprotect buf=a prot=RW"), f + "3: prot=RW: expected none, r, rw, rx or rwx");
  EXPECT_EQ(err("0 host mmap mm=proc buf=b size=4KiB populate=yes"), f + "3: populate=yes: expected 0 or 1");
  EXPECT_EQ(err("0 host touch buf=a write=2"), f + "3: write=2: expected 0 or 1");
  EXPECT_EQ(err("0 host mmap mm=9p buf=b size=1"), f + "3: mm=9p: not a valid process name");
  EXPECT_EQ(err("0 acc0 read sva=p/q buf=a size=1"), f + "3: sva=p/q: not a valid process name");
  EXPECT_EQ(err("0 host bind dev=host mm=proc"), f + "3: dev=host: not a valid endpoint name");
  EXPECT_EQ(err("0 host mmap mm=proc buf=b size=0"), f + "3: size=0: size must be at least 1 byte");
  EXPECT_EQ(err("0 host mmap mm=proc buf=b size=1 dir=to_device"),
            f + "3: unknown key 'dir' for mmap (keys: buf, size, mm, prot, populate)");
  EXPECT_EQ(err("0 host touch buf=a prot=r"), f + "3: unknown key 'prot' for touch (keys: buf, size, offset, write)");
  EXPECT_EQ(err("0 host munmap buf=a write=1"), f + "3: unknown key 'write' for munmap (keys: buf, size, offset)");
  EXPECT_EQ(err("0 host mprotect buf=a prot=r populate=1"),
            f + "3: unknown key 'populate' for mprotect (keys: buf, size, offset, prot)");
  EXPECT_EQ(err("0 host bind dev=acc0 mm=proc pasid=1"), f + "3: unknown key 'pasid' for bind (keys: dev, mm)");
  EXPECT_EQ(err("0 host unbind dev=acc0 mm=proc buf=a"), f + "3: unknown key 'buf' for unbind (keys: dev, mm)");
  EXPECT_EQ(err("0 host exit mm=proc dev=acc0"), f + "3: unknown key 'dev' for exit (keys: mm)");
  EXPECT_EQ(err("0 acc0 read mm=proc buf=a size=1"),
            f + "3: unknown key 'mm' for read (keys: buf, size, iova, offset, pasid, count, stride, sva)");
  EXPECT_EQ(err("0 host dma_map buf=b size=1 sva=proc"),
            f + "3: unknown key 'sva' for dma_map (keys: buf, size, dir, page_size, dev)");
  EXPECT_EQ(err("0 acc0 read sva=proc buf=a size=1 pasid=3"), f + "3: read takes one of sva= and pasid=, not both");
  EXPECT_EQ(err("0 acc0 write sva=proc size=1"), f + "3: write needs buf=<name> or iova=<address>");
  EXPECT_EQ(err("0 acc0 bind dev=acc0 mm=proc"),
            f + "3: unknown op 'bind' for device 'acc0' (device ops: wait, read, write, msi)");
  EXPECT_EQ(err("0 host mmap mm=proc mm=q buf=b size=1"), f + "3: key 'mm' given twice");
}

TEST_F(TraceReaderTest, LongestLineAccepted) {
  std::string line = "0 n read iova=1 size=1";
  line += std::string(TraceReader::kMaxLine - line.size(), ' ');
  ASSERT_EQ(line.size(), TraceReader::kMaxLine);
  EXPECT_EQ(read_all(line + "\n" + line + "\n").size(), 2u);
}

// Streaming: the reader returns events from a FIFO while the writer is still writing, which a
// reader loading the whole input first could not (it would wait for EOF forever). 1M lines pass
// through a pipe whose buffer holds a few KiB, so the reader never has more than a line at hand.
TEST_F(TraceReaderTest, StreamsFromFifo) {
  const std::string fifo = (dir_ / "t.fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  constexpr uint64_t kFirst = 1000, kLines = 1000000;
  std::promise<void> got_first;
  std::future<void> got_first_f = got_first.get_future();
  bool writer_timed_out = false;
  std::thread writer([&] {
    FILE* f = std::fopen(fifo.c_str(), "w");
    if (!f) return;
    const auto line = [&](uint64_t i) {
      std::fprintf(f, "+%lluns nic0 %s iova=%#llx size=64\n", static_cast<unsigned long long>(i % 7),
                   i % 2 ? "read" : "write", static_cast<unsigned long long>(0x100000 + i * 64));
    };
    for (uint64_t i = 0; i < kFirst; ++i) line(i);
    std::fflush(f);
    // Hold the rest back until the reader has parsed the first batch.
    if (got_first_f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) writer_timed_out = true;
    for (uint64_t i = kFirst; i < kLines && !writer_timed_out; ++i) line(i);
    std::fclose(f);
  });
  uint64_t n = 0, at = 0, expect_at = 0;
  bool ok = true;
  {
    TraceReader r(fifo);
    TraceEvent ev;
    while (r.next(ev)) {
      expect_at += n % 7;
      ok = ok && ev.at_ps == expect_at * 1000 && ev.iova == 0x100000 + n * 64 && ev.line == n + 1;
      at = ev.at_ps;
      if (++n == kFirst) got_first.set_value();
    }
  }
  writer.join();
  EXPECT_FALSE(writer_timed_out) << "the reader did not return events before the end of the input";
  EXPECT_EQ(n, kLines);
  EXPECT_TRUE(ok);
  EXPECT_EQ(at, expect_at * 1000);
}

// A large regular file reads in bounded time (the reader does per-line work only).
TEST_F(TraceReaderTest, LargeFileIsQuick) {
  const std::string p = (dir_ / "big.trace").string();
  {
    std::ofstream f(p);
    for (int i = 0; i < 200000; ++i) f << "+10ns nic0 read iova=0x" << std::hex << (0x1000 + i * 64) << std::dec << " size=64\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  TraceReader r(p);
  TraceEvent ev;
  uint64_t n = 0;
  while (r.next(ev)) ++n;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(n, 200000u);
  EXPECT_EQ(ev.at_ps, 200000u * 10000u);
  EXPECT_LT(s, 10.0);  // about 0.1 s here; generous for a loaded machine
}

}  // namespace
}  // namespace iommusim::host
