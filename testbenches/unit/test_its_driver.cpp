// The host ITS driver against the ITS model, end to end: probe, map_device, alloc_lpi, a device's
// MSI delivered, free_lpi and unmap_device then the write lost. Tables the driver built are read
// back from memory with the layouts written out here.
#include <gtest/gtest.h>

#include <cerrno>

#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/its_driver.h"
#include "models/host/mmio.h"
#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"
#include "testbenches/unit/test_its_fixture.h"

namespace iommusim::test {
namespace {

using sc_core::sc_time;

// The host side: functional memory, timed MMIO to the ITS control frame (the CPU stalls for each
// access, as LinuxHost's MMIO ports do), and a device issuing MSI writes to the doorbell.
struct DrvHost : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<DrvHost> regs{"regs"};
  tlm_utils::simple_initiator_socket<DrvHost> dev{"dev"};
  struct Mem final : host::PhysMem {
    SparseMemory* m = nullptr;
    void read(uint64_t pa, void* dst, size_t len) override { m->read(pa, dst, len); }
    void write(uint64_t pa, const void* src, size_t len) override { m->write(pa, src, len); }
  } mem;
  struct Port final : host::Mmio {
    DrvHost* h = nullptr;
    uint64_t access(bool wr, uint64_t off, uint64_t v, unsigned len) {
      tlm::tlm_generic_payload gp;
      gp.set_command(wr ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
      gp.set_address(off);
      gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
      gp.set_data_length(len);
      gp.set_streaming_width(len);
      gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      sc_time d = sc_core::SC_ZERO_TIME;
      h->regs->b_transport(gp, d);
      EXPECT_TRUE(gp.is_response_ok()) << std::hex << off;
      h->cpu.spend(d, h->cpu.current);
      return len == 4 ? (v & 0xFFFFFFFF) : v;
    }
    uint64_t read(uint64_t off, unsigned len) override { return access(false, off, 0, len); }
    void write(uint64_t off, uint64_t v, unsigned len) override { access(true, off, v, len); }
  } port;
  StatGroup stats{"host"};
  host::Cpu cpu{stats};
  host::HostParams hp;
  host::PhysAlloc alloc{0x80000000ull, 1ull << 30};
  std::unique_ptr<host::ItsDriver> drv;
  std::function<void(DrvHost&)> body;

  SC_HAS_PROCESS(DrvHost);
  DrvHost(sc_core::sc_module_name n, SparseMemory& m, uint64_t its_base) : sc_module(n) {
    mem.m = &m;
    port.h = this;
    drv = std::make_unique<host::ItsDriver>("its_drv", hp, mem, alloc, cpu, port, its_base, stats);
    SC_THREAD(run);
  }
  void run() { body(*this); }
  // A device's MSI: a 32-bit write of `data` to `pa` from requester `rid`.
  void msi(uint64_t pa, uint16_t rid, uint32_t data, uint64_t seq) {
    tlm::tlm_generic_payload gp;
    PcieExt x;
    x.rid = rid;
    MsiTag tag;
    tag.src_rid = rid;
    tag.seq = seq;
    tag.issued = sc_core::sc_time_stamp();
    gp.set_extension(&x);
    gp.set_extension(&tag);
    gp.set_command(tlm::TLM_WRITE_COMMAND);
    gp.set_address(pa);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
    gp.set_data_length(4);
    gp.set_streaming_width(4);
    sc_time d = sc_core::SC_ZERO_TIME;
    dev->b_transport(gp, d);
    EXPECT_TRUE(gp.is_response_ok());
    gp.clear_extension(&x);
    gp.clear_extension(&tag);
    wait(d);
  }
};

class ItsDriverTest : public ItsTest {
 protected:
  void build_host() {
    mem = std::make_unique<SparseMemory>("mem", mp);
    its = std::make_unique<its::Its>("its", p);
    host = std::make_unique<DrvHost>("host", *mem, p.base);
    its->mem.bind(mem->socket);
    host->regs.bind(its->regs);
    host->dev.bind(its->doorbell);
    its->set_sink(&sink);
  }
  void run_host(std::function<void(DrvHost&)> body) {
    host->body = std::move(body);
    sc_core::sc_start();
  }
  std::unique_ptr<DrvHost> host;
};

TEST_F(ItsDriverTest, ProbeMapAllocDeliverFree) {
  build_host();
  run_host([&](DrvHost& h) {
    host::ItsDriver& d = *h.drv;
    d.probe();
    EXPECT_EQ(d.doorbell_pa(), p.base + 0x10040);
    // The driver programmed both tables and the queue, enabled the ITS and mapped collection 0 -> CPU 0.
    const uint64_t b0 = h.port.read(0x100, 8), b1 = h.port.read(0x108, 8), cb = h.port.read(0x80, 8);
    ASSERT_EQ(b0 >> 63, 1u);
    ASSERT_EQ(b1 >> 63, 1u);
    EXPECT_EQ(cb >> 63, 1u);
    EXPECT_EQ(cb & 0xFF, 15u);  // 64 KiB queue: 16 pages
    EXPECT_EQ(cb & 0x000FFFFFFFFFF000ull, d.command_queue());
    EXPECT_EQ((b0 >> 8) & 3, 2u);  // 64 KiB pages
    EXPECT_EQ(b0 & 0xFF, 7u);      // 2^16 DeviceIDs x 8 B = 512 KiB = 8 pages
    const uint64_t dt = b0 & 0x0000FFFFFFFFF000ull, ct = b1 & 0x0000FFFFFFFFF000ull;
    EXPECT_EQ(mem->read64(ct), cte(true, 0));
    EXPECT_EQ(h.port.read(0x0, 4) & 1, 1u);

    EXPECT_EQ(d.map_device(0x0100, 4), 0);
    EXPECT_EQ(d.map_device(0x0100, 4), -EEXIST);
    EXPECT_EQ(d.map_device(0x10000, 1), -EINVAL);  // beyond the 16 DeviceID bits
    const uint64_t dw = mem->read64(dt + 0x100 * 8);
    EXPECT_EQ(dw >> 63, 1u);
    EXPECT_EQ(dw & 0x1F, 1u);  // 4 events: 2 EventID bits
    const uint64_t itt = dw & 0x000FFFFFFFFFFF00ull;
    EXPECT_EQ(itt % 256, 0u);

    const sc_time t0 = sc_core::sc_time_stamp();
    const uint64_t busy0 = h.cpu.busy_ps();
    const uint32_t lpi = d.alloc_lpi(0x0100, 2);
    const sc_time took = sc_core::sc_time_stamp() - t0;
    EXPECT_EQ(lpi, 8192u + 2);  // the device's LPIs start at 8192
    EXPECT_EQ(mem->read64(itt + 2 * 8), ite(true, lpi, 0));
    // All of it is CPU time; two waits, each polling at least once more after 1 us.
    EXPECT_EQ(h.cpu.busy_ps() - busy0, sc_core::sc_time(took).value());
    EXPECT_GE(took, sc_time(2, sc_core::SC_US));
    EXPECT_LT(took, sc_time(5, sc_core::SC_US));
    EXPECT_EQ(h.port.read(0x90, 8), h.port.read(0x88, 8));  // every command completed

    h.msi(d.doorbell_pa(), 0x0100, 2, 1);
    ASSERT_EQ(sink.delivered.size(), 1u);
    EXPECT_EQ(sink.delivered[0].intid, lpi);
    EXPECT_EQ(sink.delivered[0].cpu, d.target_cpu());
    EXPECT_EQ(sink.delivered[0].seq, 1u);
    EXPECT_EQ(d.alloc_lpi(0x0100, 4), 0u);  // beyond nvecs
    EXPECT_EQ(d.alloc_lpi(0x0200, 0), 0u);  // unknown device

    EXPECT_EQ(d.map_device(0x0200, 3), 0);
    EXPECT_EQ(d.alloc_lpi(0x0200, 0), 8196u);  // after the first device's four
    h.msi(d.doorbell_pa(), 0x0200, 0, 2);
    ASSERT_EQ(sink.delivered.size(), 2u);
    EXPECT_EQ(sink.delivered[1].intid, 8196u);

    d.free_lpi(0x0100, 2);
    h.msi(d.doorbell_pa(), 0x0100, 2, 3);
    ASSERT_EQ(sink.losses.size(), 1u);
    EXPECT_EQ(sink.losses[0].why, IrqLoss::UnmappedEvent);
    EXPECT_EQ(sink.losses[0].seq, 3u);

    d.unmap_device(0x0200);
    h.msi(d.doorbell_pa(), 0x0200, 0, 4);
    ASSERT_EQ(sink.losses.size(), 2u);
    EXPECT_EQ(sink.losses[1].why, IrqLoss::UnmappedDevice);
    EXPECT_EQ(sink.delivered.size(), 2u);
    // The freed LPIs are handed out again.
    EXPECT_EQ(d.map_device(0x0300, 2), 0);
    EXPECT_EQ(d.alloc_lpi(0x0300, 1), 8197u);
  });
  // probe: MAPC, SYNC, INVALL; 3 x MAPD; 3 x (MAPTI, SYNC, INV, SYNC); DISCARD, SYNC; MAPD.
  EXPECT_EQ(stat("commands"), 3 + 3 + 12 + 2 + 1);
  EXPECT_EQ(stat("cmd_errors"), 0);
  double drv_cmds = -1;
  ASSERT_TRUE(host->stats.find("its_drv.commands", drv_cmds));
  EXPECT_EQ(drv_cmds, 21);
}

TEST_F(ItsDriverTest, EnablingGoesThroughInvAsLinuxDoes) {
  build_host();
  run_host([&](DrvHost& h) {
    host::ItsDriver& d = *h.drv;
    d.probe();
    ASSERT_EQ(d.map_device(7, 2), 0);
    const uint32_t lpi = d.alloc_lpi(7, 1);
    ASSERT_NE(lpi, 0u);
    // The configuration table the driver programmed holds the LPI enabled at the default priority.
    const uint64_t prop = h.port.read(0xC000, 8) & 0x000FFFFFFFFFF000ull;
    uint8_t b = 0;
    mem->read(prop + lpi - 8192, &b, 1);
    EXPECT_EQ(b, 0xA3);
    mem->read(prop + lpi - 8192 - 1, &b, 1);  // event 0, never allocated: disabled
    EXPECT_EQ(b, 0xA2);
    h.msi(d.doorbell_pa(), 7, 1, 1);
    EXPECT_EQ(sink.delivered.size(), 1u);
  });
  EXPECT_EQ(stat("cmd_inv"), 2);  // probe's INVALL and alloc_lpi's INV
}

}  // namespace
}  // namespace iommusim::test
