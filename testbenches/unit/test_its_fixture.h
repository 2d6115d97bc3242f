// Fixture of the ITS unit tests: sparse memory, the ITS, a test initiator on its control frame and
// doorbell, and a recording IrqSink. Memory is set to 90 ns + 1 ns per byte so that every timed
// access is a whole number of nanoseconds (8 B = 98 ns, 32 B = 122 ns, 1 B = 91 ns).
#pragma once
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "models/irq/irq_sink.h"
#include "models/irq/its.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/iommu_tb.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {

struct RecordingSink : IrqSink {
  struct Delivery {
    uint32_t cpu, intid;
    bool tagged;
    uint64_t seq;
    sc_core::sc_time at;
  };
  struct Loss {
    IrqLoss why;
    bool tagged;
    uint64_t seq;
    sc_core::sc_time at;
  };
  std::vector<Delivery> delivered;
  std::vector<Loss> losses;
  void deliver(uint32_t cpu, uint32_t intid, const MsiTag* tag, const sc_core::sc_time& at) override {
    delivered.push_back({cpu, intid, tag != nullptr, tag ? tag->seq : 0, at});
  }
  void lost(IrqLoss why, const MsiTag* tag, const sc_core::sc_time& at) override {
    losses.push_back({why, tag != nullptr, tag ? tag->seq : 0, at});
  }
};

// The initiator: register access on `regs` (IommuTb) and MSI writes on `dma`, bound to the doorbell.
struct ItsTb : IommuTb<ItsTb> {
  explicit ItsTb(sc_core::sc_module_name n) : IommuTb<ItsTb>(n, 8) {}
  // A `len`-byte write of `data` from requester `rid` to `addr` (GITS_TRANSLATER: 0x40 of the
  // translation frame) with an MsiTag of sequence number `seq` (0: untagged). Returns the response.
  tlm::tlm_response_status msi(uint16_t rid, uint32_t data, uint64_t seq = 0, uint64_t addr = 0x40,
                               unsigned len = 4) {
    tlm::tlm_generic_payload gp;
    PcieExt x;
    x.rid = rid;
    MsiTag tag;
    tag.src_rid = rid;
    tag.seq = seq;
    tag.issued = sc_core::sc_time_stamp();
    gp.set_extension(&x);
    if (seq) gp.set_extension(&tag);
    gp.set_command(tlm::TLM_WRITE_COMMAND);
    gp.set_address(addr);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    dma->b_transport(gp, d);
    gp.clear_extension(&x);
    if (seq) gp.clear_extension(&tag);
    wait(d);
    return gp.get_response_status();
  }
};

class ItsTest : public SimTest {
 public:  // the tests' helper functions use the layout constants and encoders
  // Memory layout of the hand-built structures.
  static constexpr uint64_t kCmdq = 0x100000, kDt = 0x200000, kCt = 0x300000, kItt = 0x400000,
                            kProp = 0x500000;
  ItsTest() {
    mp.latency = Time::ns(90);
    mp.bandwidth_gbps = 1.0;  // 1 ns per byte
  }
  void build() {
    mem = std::make_unique<SparseMemory>("mem", mp);
    its = std::make_unique<its::Its>("its", p);
    tb = std::make_unique<ItsTb>("tb");
    its->mem.bind(mem->socket);
    tb->regs.bind(its->regs);
    tb->dma.bind(its->doorbell);
    its->set_sink(&sink);
  }
  void run(std::function<void(ItsTb&)> body) {
    tb->body = std::move(body);
    sc_core::sc_start();
  }
  double stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(its->stats().find(path, v)) << path;
    return v;
  }

  // ---- raw encodings from IHI 0069 (commands) and its_defs.h's documented entry layouts --------
  static uint64_t dte(bool v, uint64_t itt, unsigned size) {
    return (uint64_t{v} << 63) | (itt & 0x000FFFFFFFFFFF00ull) | size;
  }
  static uint64_t ite(bool v, uint32_t pintid, uint16_t icid) {
    return (uint64_t{v} << 63) | (uint64_t{v} << 62) | (uint64_t{icid} << 32) | pintid;
  }
  static uint64_t cte(bool v, uint32_t cpu) { return (uint64_t{v} << 63) | cpu; }
  struct RawCmd {
    uint64_t dw[4] = {};
  };
  static RawCmd mapd(uint32_t dev, unsigned size, uint64_t itt, bool v) {
    return {{0x08 | (uint64_t{dev} << 32), size, (uint64_t{v} << 63) | (itt & 0x000FFFFFFFFFFF00ull), 0}};
  }
  static RawCmd mapc(uint16_t icid, uint32_t cpu, bool v) {
    return {{0x09, 0, (uint64_t{v} << 63) | (uint64_t{cpu} << 16) | icid, 0}};
  }
  static RawCmd mapti(uint32_t dev, uint32_t ev, uint32_t pintid, uint16_t icid) {
    return {{0x0A | (uint64_t{dev} << 32), ev | (uint64_t{pintid} << 32), icid, 0}};
  }
  static RawCmd mapi(uint32_t dev, uint32_t ev, uint16_t icid) {
    return {{0x0B | (uint64_t{dev} << 32), ev, icid, 0}};
  }
  static RawCmd movi(uint32_t dev, uint32_t ev, uint16_t icid) {
    return {{0x01 | (uint64_t{dev} << 32), ev, icid, 0}};
  }
  static RawCmd dev_ev(uint8_t op, uint32_t dev, uint32_t ev) { return {{op | (uint64_t{dev} << 32), ev, 0, 0}}; }
  static RawCmd discard(uint32_t dev, uint32_t ev) { return dev_ev(0x0F, dev, ev); }
  static RawCmd inv(uint32_t dev, uint32_t ev) { return dev_ev(0x0C, dev, ev); }
  static RawCmd int_cmd(uint32_t dev, uint32_t ev) { return dev_ev(0x03, dev, ev); }
  static RawCmd clear(uint32_t dev, uint32_t ev) { return dev_ev(0x04, dev, ev); }
  static RawCmd invall(uint16_t icid) { return {{0x0D, 0, icid, 0}}; }
  static RawCmd sync() { return {{0x05, 0, 0, 0}}; }

  // Register offsets (IHI 0069 12.19).
  static constexpr uint32_t CTLR = 0x0, TYPER = 0x8, CBASER = 0x80, CWRITER = 0x88, CREADR = 0x90, BASER0 = 0x100,
                            BASER1 = 0x108, PROPBASER = 0xC000;

  // Programs a 4 KiB command queue (128 commands), a 4 KiB device table (512 DeviceIDs) and a
  // 4 KiB collection table (512 ICIDs) with the ITS disabled, then enables it.
  void setup(ItsTb& tb, bool enable = true) {
    tb.wr(CBASER, (uint64_t{1} << 63) | kCmdq);  // Size 0: one 4 KiB page
    tb.wr(CWRITER, 0);
    tb.wr(BASER0, (uint64_t{1} << 63) | kDt);    // Page_Size 4 KiB, Size 0
    tb.wr(BASER1, (uint64_t{1} << 63) | kCt);
    if (enable) tb.wr(CTLR, 1);
  }
  // Appends commands at the software write pointer, publishes CWRITER and (optionally) waits
  // until CREADR reaches it.
  uint64_t wptr = 0;
  void submit(ItsTb& tb, const std::vector<RawCmd>& cmds, bool wait_done = true) {
    for (const auto& c : cmds) {
      mem->write(kCmdq + wptr, c.dw, 32);
      wptr = (wptr + 32) % 0x1000;
    }
    tb.wr(CWRITER, wptr);
    if (!wait_done) return;
    for (int i = 0; i < 100000 && (tb.rd(CREADR) & ~uint64_t{1}) != wptr; ++i) sc_core::wait(sc_core::sc_time(10, sc_core::SC_NS));
    ASSERT_EQ(tb.rd(CREADR), wptr);
  }

  SparseMemoryParams mp;
  its::ItsParams p;
  RecordingSink sink;
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<its::Its> its;
  std::unique_ptr<ItsTb> tb;
};

}  // namespace iommusim::test
