// The host's AMD-Vi driver servicing the PPR log of the AMD-Vi model: a LinuxHost (SVA and fault
// cores, AMD-Vi driver) programs a real AmdVi in front of sparse memory; a stand-in device sends
// PCIe Page Requests and records the PRG Responses that COMPLETE_PPR_REQUEST sends back.
//
// Expectations come from R3.1/R3.5 and the AMD-Vi formats, written out here: PPR log entry code
// [63:60] of qword 0 (1 = PAGE_SERVICE_REQUEST), PRG Response codes Success 0, Invalid 1, Failure
// 0xF; requests without a PASID, with PASID 0 or a PASID beyond the device's limit are answered
// FAILURE by the driver itself; requests the fault core finds no handler for are answered INVALID.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "models/host/amdvi_driver.h"
#include "models/host/linux_host.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/ats_test_device.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::sc_time;
using sc_core::SC_US;

constexpr uint16_t kRid = 0x0100;
constexpr uint8_t kSuccess = 0x0, kInvalid = 0x1, kFailure = 0xF;

// The endpoint's capability registers as a sink: the host's PASID/PRI/ATS Control writes land here.
struct NullBar : sc_core::sc_module {
  tlm_utils::simple_target_socket<NullBar> bar{"bar"};
  explicit NullBar(sc_core::sc_module_name n) : sc_core::sc_module(n) {
    bar.register_b_transport(this, &NullBar::transport);
  }
  void transport(tlm::tlm_generic_payload& gp, sc_time&) {
    if (gp.is_read()) std::memset(gp.get_data_ptr(), 0, gp.get_data_length());
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

class AmdViPprTest : public test::SimTest {
 protected:
  void build(bool irq) {
    mem = std::make_unique<SparseMemory>("mem", mp);
    amd = std::make_unique<amdvi::AmdVi>("ivhd0", ap);
    host = std::make_unique<host::LinuxHost>("host", hp);
    bar = std::make_unique<NullBar>("bar");
    dev = std::make_unique<test::AtsTestDevice>("dev");
    host->mem.bind(mem->socket);
    amd->mem.bind(mem->socket);
    host->mmio.bind(amd->regs);
    const unsigned idx = host->add_amdvi("ivhd0", amd->iotlb_supported());
    amd->ats().down.bind(dev->from_iommu);
    dev->to_iommu.bind(amd->upstream);
    amd->ats().add_device(kRid, 0);
    host->bars.bind(bar->bar);
    host::DeviceCaps caps;
    caps.ats = true;
    caps.pasid_bits = 16;
    caps.pri_capacity = 64;
    host->add_endpoint("acc0", kRid, idx, irq_, caps);
    drv = &dynamic_cast<host::AmdViDriver&>(host->driver(idx));
    if (irq) drv->set_ppr_irq(&amd->ppr_irq());
  }
  void run(std::function<void()> body, sc_time limit = sc_time(10, sc_core::SC_MS)) {
    sc_core::sc_spawn([this, body] {
      host->wait_booted();
      body();
    });
    sc_core::sc_start(limit);
  }
  double amd_stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(amd->stats().find(path, v)) << path;
    return v;
  }
  double host_stat(const std::string& path) {
    double v = -1;
    EXPECT_TRUE(host->stats().find(path, v)) << path;
    return v;
  }
  pri::PageRequest req(uint64_t addr, uint16_t prg, bool write = false) {
    pri::PageRequest r;
    r.addr = addr;
    r.prg_index = prg;
    r.last = true;
    r.read = true;
    r.write = write;
    return r;
  }

  SparseMemoryParams mp;
  amdvi::AmdViParams ap;
  host::HostParams hp;
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<amdvi::AmdVi> amd;
  std::unique_ptr<host::LinuxHost> host;
  std::unique_ptr<NullBar> bar;
  std::unique_ptr<test::AtsTestDevice> dev;
  host::AmdViDriver* drv = nullptr;
  sc_core::sc_event irq_;
};

TEST_F(AmdViPprTest, BindEnablesPasidAtsAndPriAndSetsDtePpr) {
  build(true);
  uint32_t pasid = 0;
  run([&] {
    host::Mm& mm = host->create_mm();
    ASSERT_EQ(host->sva_bind(0, mm, pasid), 0);
  });
  ASSERT_NE(drv->ppr_log(), 0u);
  EXPECT_EQ(drv->ppr_log() % 4096, 0u);
  // PASID, ATS, then PRI asking for 32 requests: min(capacity 64, 32) (R3.2).
  const host::PciDevice& pd = host->pci_device(0);
  EXPECT_TRUE(pd.pasid_enabled);
  EXPECT_TRUE(pd.ats_enabled);
  EXPECT_TRUE(pd.pri_enabled);
  EXPECT_EQ(pd.pri_alloc, 32u);
  // DTE bit 52 (qword 0): PPR; bit 55: GV.
  const uint64_t q0 = mem->read64(drv->device_table() + uint64_t{kRid} * 32);
  EXPECT_TRUE((q0 >> 52) & 1);
  EXPECT_TRUE((q0 >> 55) & 1);
}

TEST_F(AmdViPprTest, PageRequestIsLoggedReportedHandledAndAnsweredSuccess) {
  build(true);
  uint32_t pasid = 0;
  uint64_t va = 0;
  host::Mm* mmp = nullptr;
  sc_time sent;
  run([&] {
    host::Mm& mm = host->create_mm();
    mmp = &mm;
    va = mm.mmap(16 * 4096, {}).addr;  // never touched: no PTE yet
    ASSERT_EQ(host->sva_bind(0, mm, pasid), 0);
    sent = sc_core::sc_time_stamp();
    EXPECT_EQ(dev->send_page_request(kRid, req(va + 3 * 4096, 7, true), static_cast<int>(pasid)),
              tlm::TLM_OK_RESPONSE);
  });
  ASSERT_EQ(dev->prg_responses.size(), 1u);
  const test::SeenPrgResponse& r = dev->prg_responses[0];
  EXPECT_EQ(r.rid, kRid);
  EXPECT_EQ(r.prg_index, 7);
  EXPECT_EQ(r.code, kSuccess);
  EXPECT_TRUE(r.pasid_valid);
  EXPECT_EQ(r.pasid, pasid);
  // The group costs at least the fault core's 2 us (R3.4) plus the mm fault.
  EXPECT_GE(r.arrived, sent + to_sc(hp.sva.iopf_group) + to_sc(hp.cost.mm.fault));
  const auto t = mmp->translate(va + 3 * 4096);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->write);
  EXPECT_FALSE(mmp->translate(va).has_value());  // only the page asked for
  EXPECT_EQ(amd_stat("ppr.logged"), 1);
  EXPECT_EQ(amd_stat("inv.complete_ppr"), 1);
  EXPECT_EQ(host_stat("ivhd0.ppr_entries"), 1);
  EXPECT_EQ(host_stat("ivhd0.ppr_reported"), 1);
  EXPECT_EQ(host_stat("iopf.success"), 1);
  // The consumed entry was zeroed (type [63:60] = 0) and Head moved past it.
  EXPECT_EQ(mem->read64(drv->ppr_log()) >> 60, 0u);
}

TEST_F(AmdViPprTest, MalformedRequestsAreAnsweredFailureAndUnhandledOnesInvalid) {
  build(true);
  uint32_t pasid = 0;
  run([&] {
    host::Mm& mm = host->create_mm();
    const uint64_t va = mm.mmap(4 * 4096, {}).addr;
    ASSERT_EQ(host->sva_bind(0, mm, pasid), 0);
    dev->send_page_request(kRid, req(va, 1));                      // no PASID (GN = 0)
    dev->send_page_request(kRid, req(va, 2), 0);                   // PASID 0
    dev->send_page_request(kRid, req(va, 3), 0x10000);             // beyond min(2^16, 2^16 - 1)
    dev->send_page_request(kRid, req(va, 4), static_cast<int>(pasid) + 1);  // valid, but nobody bound there
    dev->send_page_request(kRid, req(0x1000, 5), static_cast<int>(pasid));  // bound, but no VMA
    sc_core::wait(sc_time(50, SC_US));
  });
  ASSERT_EQ(dev->prg_responses.size(), 5u);
  std::map<uint16_t, uint8_t> code;
  std::map<uint16_t, bool> with_pasid;
  for (const auto& r : dev->prg_responses) {
    code[r.prg_index] = r.code;
    with_pasid[r.prg_index] = r.pasid_valid;
  }
  EXPECT_EQ(code[1], kFailure);
  EXPECT_FALSE(with_pasid[1]);  // a request without a PASID is answered without one
  EXPECT_EQ(code[2], kFailure);
  EXPECT_EQ(code[3], kFailure);
  EXPECT_EQ(code[4], kInvalid);
  EXPECT_EQ(code[5], kInvalid);
  EXPECT_EQ(host_stat("ivhd0.ppr_refused"), 3);
  EXPECT_EQ(host_stat("ivhd0.ppr_reported"), 2);
  EXPECT_EQ(host_stat("iopf.no_handler"), 1);
  EXPECT_EQ(host_stat("iopf.invalid"), 2);
}

TEST_F(AmdViPprTest, WithoutTheInterruptTheDriverPollsTheEntryAtHead) {
  build(false);
  drv->ppr_service().poll_interval = Time::us(5);
  uint32_t pasid = 0;
  sc_time sent;
  run([&] {
    host::Mm& mm = host->create_mm();
    const uint64_t va = mm.mmap(4 * 4096, {}).addr;
    ASSERT_EQ(host->sva_bind(0, mm, pasid), 0);
    sent = sc_core::sc_time_stamp();
    dev->send_page_request(kRid, req(va, 9), static_cast<int>(pasid));
  });
  ASSERT_EQ(dev->prg_responses.size(), 1u);
  EXPECT_EQ(dev->prg_responses[0].code, kSuccess);
  // Seen at the first poll after the entry landed: within one interval plus the handling.
  EXPECT_LT(dev->prg_responses[0].arrived, sent + sc_time(5, SC_US) + sc_time(20, SC_US));
}

TEST_F(AmdViPprTest, OverflowStopsLoggingUntilTheDriverRestartsIt) {
  build(false);
  drv->ppr_service().poll_interval = Time::ms(1);  // the device fills the log before the driver looks
  uint32_t pasid = 0;
  run(
      [&] {
        host::Mm& mm = host->create_mm();
        ASSERT_EQ(host->sva_bind(0, mm, pasid), 0);
        // 520 requests without a PASID: each is answered FAILURE by the driver alone.
        for (unsigned i = 0; i < 520; ++i) dev->send_page_request(kRid, req(0x100000 + i * 4096ull, i % 512));
        sc_core::wait(sc_time(3, sc_core::SC_MS));
        dev->send_page_request(kRid, req(0x900000, 77));
      },
      sc_time(20, sc_core::SC_MS));
  // 511 fit (one slot always stays free); the 512th overflows and logging stops.
  EXPECT_EQ(amd_stat("ppr.logged"), 511 + 1);
  EXPECT_EQ(amd_stat("ppr.overflows"), 1);
  EXPECT_EQ(host_stat("ivhd0.ppr_overflows"), 1);
  EXPECT_EQ(host_stat("ivhd0.ppr_entries"), 512);
  ASSERT_EQ(dev->prg_responses.size(), 512u);
  EXPECT_EQ(dev->prg_responses.back().prg_index, 77);
  for (const auto& r : dev->prg_responses) EXPECT_EQ(r.code, kFailure);
}

}  // namespace
}  // namespace iommusim
