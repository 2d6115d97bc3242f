// Unit tests of SparseMemory: sparse storage, data integrity, errors, DMI and timing boundaries.
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstring>
#include <functional>
#include <vector>

#include "models/common/sim_time.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::sc_time;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kTiB = uint64_t{1} << 40;

// Runs `body` in an SC_THREAD with an initiator socket bound to the memory.
struct Driver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Driver> sock{"sock"};
  std::function<void(Driver&)> body;
  SC_HAS_PROCESS(Driver);
  explicit Driver(sc_core::sc_module_name n) : sc_core::sc_module(n) { SC_THREAD(run); }
  void run() { body(*this); }

  // Timed access; returns the response status and updates `delay`.
  tlm::tlm_response_status access(tlm::tlm_command cmd, uint64_t addr, void* data, unsigned len, sc_time& delay) {
    tlm::tlm_generic_payload gp;
    gp.set_command(cmd);
    gp.set_address(addr);
    gp.set_data_ptr(static_cast<unsigned char*>(data));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sock->b_transport(gp, delay);
    return gp.get_response_status();
  }
};

class SparseMemoryTest : public test::SimTest {
 protected:
  SparseMemory& make(uint64_t size = uint64_t{64} << 30) {
    SparseMemoryParams p;
    p.size = size;
    mem_ = std::make_unique<SparseMemory>("mem", p);
    drv_ = std::make_unique<Driver>("drv");
    drv_->sock.bind(mem_->socket);
    return *mem_;
  }
  void run(std::function<void(Driver&)> body) {
    drv_->body = std::move(body);
    sc_core::sc_start();
  }
  std::unique_ptr<SparseMemory> mem_;
  std::unique_ptr<Driver> drv_;
};

TEST_F(SparseMemoryTest, TerabyteSpaceCostsOnlyTouchedPages) {
  SparseMemory& m = make(kTiB);
  EXPECT_EQ(m.size(), kTiB);
  const uint64_t n = kTiB / kGiB;  // 1024 writes, one per GiB
  run([&](Driver& d) {
    sc_time delay;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t v = i * 0x0101010101010101ULL;
      ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, i * kGiB + 64, &v, 8, delay), tlm::TLM_OK_RESPONSE);
    }
    // Reads of untouched memory allocate nothing.
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t v = 1;
      ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, i * kGiB + 8 * 4096, &v, 8, delay), tlm::TLM_OK_RESPONSE);
      ASSERT_EQ(v, 0u);
    }
  });
  EXPECT_EQ(m.pages_touched(), n);
  for (uint64_t i = 0; i < n; i += 97) EXPECT_EQ(m.read64(i * kGiB + 64), i * 0x0101010101010101ULL);
  std::vector<uint8_t> buf(3 * 4096, 0xAA);
  m.read(kTiB - buf.size(), buf.data(), buf.size());  // the last pages: untouched
  for (uint8_t b : buf) ASSERT_EQ(b, 0);
  EXPECT_EQ(m.pages_touched(), n);
  double pages = 0;
  ASSERT_TRUE(m.stats().find("pages_touched", pages));
  EXPECT_EQ(pages, static_cast<double>(n));
  m.write64(kTiB - 8, 7);  // the very last word
  EXPECT_EQ(m.read64(kTiB - 8), 7u);
  EXPECT_EQ(m.pages_touched(), n + 1);
}

TEST_F(SparseMemoryTest, DataIntegrityAcrossPageBoundaries) {
  SparseMemory& m = make();
  // 10000 bytes starting 100 bytes before a page boundary: spans 4 pages.
  const uint64_t base = 5 * 4096 - 100;
  std::vector<uint8_t> src(10000), dst(10000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7 + 3);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, base, src.data(), 10000, delay), tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, base, dst.data(), 10000, delay), tlm::TLM_OK_RESPONSE);
  });
  EXPECT_EQ(src, dst);
  EXPECT_EQ(m.pages_touched(), 4u);
  // Backdoor sees the same bytes, and a read that straddles the written range zero-fills the rest.
  std::vector<uint8_t> wide(10200, 0xEE);
  m.read(base - 100, wide.data(), wide.size());
  for (size_t i = 0; i < 100; ++i) ASSERT_EQ(wide[i], 0);
  for (size_t i = 0; i < 10000; ++i) ASSERT_EQ(wide[100 + i], src[i]);
  for (size_t i = 10100; i < wide.size(); ++i) ASSERT_EQ(wide[i], 0);
  // 64-bit backdoor across a page boundary is little-endian.
  m.write64(4096 * 100 - 3, 0x1122334455667788ULL);
  EXPECT_EQ(m.read64(4096 * 100 - 3), 0x1122334455667788ULL);
  uint8_t b0 = 0;
  m.read(4096 * 100 - 3, &b0, 1);
  EXPECT_EQ(b0, 0x88);
  double v = 0;
  ASSERT_TRUE(m.stats().find("bytes_written", v));
  EXPECT_EQ(v, 10000.0);
  ASSERT_TRUE(m.stats().find("reads", v));
  EXPECT_EQ(v, 1.0);
}

TEST_F(SparseMemoryTest, UnwrittenMemoryReadsZero) {
  SparseMemory& m = make();
  std::vector<uint8_t> buf(8192, 0x5A);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, 12345, buf.data(), 8192, delay), tlm::TLM_OK_RESPONSE);
  });
  for (uint8_t b : buf) ASSERT_EQ(b, 0);
  EXPECT_EQ(m.read64(1 << 20), 0u);
  EXPECT_EQ(m.pages_touched(), 0u);
}

TEST_F(SparseMemoryTest, OutOfRangeIsAddressError) {
  SparseMemory& m = make(1 << 20);
  // Before sc_start: an exception after coroutines have run confuses ASan's stack tracking.
  EXPECT_THROW(m.write64((1 << 20) - 4, 1), std::out_of_range);
  uint8_t b[2];
  EXPECT_THROW(m.read(UINT64_MAX, b, 2), std::out_of_range);
  run([&](Driver& d) {
    sc_time delay;
    uint8_t buf[16] = {};
    EXPECT_EQ(d.access(tlm::TLM_READ_COMMAND, (1 << 20) - 8, buf, 16, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 1 << 20, buf, 1, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(d.access(tlm::TLM_WRITE_COMMAND, UINT64_MAX - 4, buf, 16, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(d.access(tlm::TLM_READ_COMMAND, (1 << 20) - 16, buf, 16, delay), tlm::TLM_OK_RESPONSE);
    // Untimed debug access checks the range too.
    tlm::tlm_generic_payload gp;
    gp.set_command(tlm::TLM_READ_COMMAND);
    gp.set_address(1 << 20);
    gp.set_data_ptr(buf);
    gp.set_data_length(4);
    EXPECT_EQ(d.sock->transport_dbg(gp), 0u);
    EXPECT_EQ(gp.get_response_status(), tlm::TLM_ADDRESS_ERROR_RESPONSE);
  });
  EXPECT_EQ(m.pages_touched(), 0u);
  double errors = 0;
  ASSERT_TRUE(m.stats().find("errors", errors));
  EXPECT_EQ(errors, 3.0);
}

TEST_F(SparseMemoryTest, DmiPointerAliasesBackdoor) {
  SparseMemory& m = make();
  const uint64_t addr = 0x12345678;
  run([&](Driver& d) {
    tlm::tlm_generic_payload gp;
    gp.set_address(addr);
    gp.set_command(tlm::TLM_READ_COMMAND);
    tlm::tlm_dmi dmi;
    ASSERT_TRUE(d.sock->get_direct_mem_ptr(gp, dmi));
    EXPECT_EQ(dmi.get_start_address(), addr & ~uint64_t{4095});
    EXPECT_EQ(dmi.get_end_address(), (addr & ~uint64_t{4095}) + 4095);
    EXPECT_TRUE(dmi.is_read_write_allowed());
    EXPECT_GT(dmi.get_read_latency(), sc_core::SC_ZERO_TIME);
    EXPECT_GT(dmi.get_write_latency(), sc_core::SC_ZERO_TIME);
    unsigned char* p = dmi.get_dmi_ptr() + (addr - dmi.get_start_address());
    const uint64_t v = 0xDEADBEEFCAFEF00DULL;
    std::memcpy(p, &v, 8);
    EXPECT_EQ(m.read64(addr), v);
    m.write64(addr + 8, 42);
    uint64_t w = 0;
    std::memcpy(&w, p + 8, 8);
    EXPECT_EQ(w, 42u);
    // A timed read sees DMI writes, and DMI stays valid as other pages get allocated.
    for (uint64_t i = 1; i < 1000; ++i) m.write64(i * 4096 * 3, i);
    uint64_t r = 0;
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, addr, &r, 8, delay), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r, v);
    // Beyond the end: no DMI.
    gp.set_address(uint64_t{1} << 40);
    EXPECT_FALSE(d.sock->get_direct_mem_ptr(gp, dmi));
  });
}

TEST_F(SparseMemoryTest, SingleReadCompletesAtLatencyPlusTransfer) {
  make();
  // Defaults: 90 ns + 64 B / 25.6 GB/s = 90 ns + 2.5 ns.
  const sc_time expect = sc_time(92.5, sc_core::SC_NS);
  sc_time done_at;
  run([&](Driver& d) {
    uint8_t buf[64];
    sc_time delay = sc_core::SC_ZERO_TIME;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, 0x1000, buf, 64, delay), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(delay, expect);
    sc_core::wait(delay - sc_time(1, sc_core::SC_PS));
    EXPECT_LT(sc_core::sc_time_stamp(), expect);  // not done 1 ps before
    sc_core::wait(sc_time(1, sc_core::SC_PS));
    done_at = sc_core::sc_time_stamp();
  });
  EXPECT_EQ(done_at, expect);
}

TEST_F(SparseMemoryTest, BackToBackReadsQueueOnTheChannel) {
  make();
  const sc_time xfer(2.5, sc_core::SC_NS);  // 64 B at 25.6 GB/s
  const sc_time lat(90, sc_core::SC_NS);
  run([&](Driver& d) {
    uint8_t buf[64];
    sc_time d1 = sc_core::SC_ZERO_TIME, d2 = sc_core::SC_ZERO_TIME, d3 = sc_core::SC_ZERO_TIME;
    d.access(tlm::TLM_READ_COMMAND, 0, buf, 64, d1);
    d.access(tlm::TLM_READ_COMMAND, 64, buf, 64, d2);  // same issue time
    EXPECT_EQ(d1, lat + xfer);
    EXPECT_EQ(d2, lat + xfer + xfer);
    // A read issued after the channel drained waits for nothing.
    sc_core::wait(sc_time(1, sc_core::SC_US));
    d.access(tlm::TLM_READ_COMMAND, 128, buf, 64, d3);
    EXPECT_EQ(d3, lat + xfer);
  });
  double wait_ns = 0;
  ASSERT_TRUE(mem_->stats().find("wait_ns", wait_ns));
  EXPECT_DOUBLE_EQ(wait_ns, 2.5);
}

}  // namespace
}  // namespace iommusim
