// Test initiator shared by the IOMMU model unit tests: drives a model's register socket and
// issues single DMAs with PCIe attributes through its upstream socket, at exact simulated times.
#pragma once
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "models/common/params.h"
#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/memory/sparse_memory.h"
#include "models/pcie/ats_defs.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {

struct DmaResult {
  tlm::tlm_response_status st = tlm::TLM_INCOMPLETE_RESPONSE;
  IoStatus io = IoStatus::Ok;
  uint64_t data = 0;
};

// Self is the test's own subclass, so `body` receives it with its architecture-specific helpers.
template <class Self>
struct IommuTb : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<IommuTb> regs{"regs"};
  tlm_utils::simple_initiator_socket<IommuTb> dma{"dma"};
  std::function<void(Self&)> body;
  sc_core::sc_event* watch = nullptr;  // when set, every notification's time lands in watch_times
  std::vector<sc_core::sc_time> watch_times;
  PayloadPool pool;
  unsigned reg_len;  // default register access width

  SC_HAS_PROCESS(IommuTb);
  explicit IommuTb(sc_core::sc_module_name n, unsigned default_reg_len = 4)
      : sc_core::sc_module(n), reg_len(default_reg_len) {
    SC_THREAD(run);
    SC_THREAD(watcher);
  }
  void run() {
    if (body) body(static_cast<Self&>(*this));
  }
  void watcher() {
    if (!watch) return;
    for (;;) {
      wait(*watch);
      watch_times.push_back(sc_core::sc_time_stamp());
    }
  }
  // Register access with zero annotated delay: sees the register at the current simulated time.
  uint64_t rd(uint32_t off, unsigned len = 0) {
    uint64_t v = 0;
    reg_access(tlm::TLM_READ_COMMAND, off, v, len ? len : reg_len);
    return v;
  }
  void wr(uint32_t off, uint64_t v, unsigned len = 0) { reg_access(tlm::TLM_WRITE_COMMAND, off, v, len ? len : reg_len); }
  void reg_access(tlm::tlm_command cmd, uint32_t off, uint64_t& v, unsigned len) {
    tlm::tlm_generic_payload gp;
    gp.set_command(cmd);
    gp.set_address(off);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    regs->b_transport(gp, d);
    EXPECT_EQ(gp.get_response_status(), tlm::TLM_OK_RESPONSE) << std::hex << off;
  }
  // One DMA of `len` bytes from requester `rid`; waits out its annotated delay afterwards.
  DmaResult dma_access(uint16_t rid, uint64_t va, bool write, uint64_t wdata, bool priv, int pasid, unsigned len) {
    tlm::tlm_generic_payload* gp = pool.acquire();
    uint64_t buf = wdata;
    gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    gp->set_address(va);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&buf));
    gp->set_data_length(len);
    gp->set_streaming_width(len);
    PcieExt& x = pcie(*gp);
    x.rid = rid;
    x.pmr = priv;
    if (pasid >= 0) {
      x.pasid_valid = true;
      x.pasid = static_cast<uint32_t>(pasid);
    }
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    dma->b_transport(*gp, d);
    DmaResult r;
    r.st = gp->get_response_status();
    r.io = x.status;
    r.data = buf;
    EXPECT_EQ(gp->get_address(), va);  // the address is restored after translation
    gp->release();
    wait(d);
    return r;
  }
  // An ATS Translation Request for the page holding va; returns the decoded completion entry
  // (response status and IoStatus in r). Waits out the annotated delay.
  ats::Translation ats_translate(uint16_t rid, uint64_t va, int pasid, bool nw, DmaResult& r, bool priv = false) {
    tlm::tlm_generic_payload* gp = pool.acquire();
    uint64_t entry = 0;
    gp->set_command(tlm::TLM_READ_COMMAND);
    gp->set_address(va & ~uint64_t{0xFFF});
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&entry));
    gp->set_data_length(8);
    gp->set_streaming_width(8);
    PcieExt& x = pcie(*gp);
    x.rid = rid;
    x.at = AddrType::TranslationRequest;
    x.nw = nw;
    x.pmr = priv;
    if (pasid >= 0) {
      x.pasid_valid = true;
      x.pasid = static_cast<uint32_t>(pasid);
    }
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    dma->b_transport(*gp, d);
    r.st = gp->get_response_status();
    r.io = x.status;
    r.data = entry;
    gp->release();
    wait(d);
    return ats::decode_completion(entry);
  }
  // A translated request (AT = Translated) to physical address pa.
  DmaResult translated_access(uint16_t rid, uint64_t pa, bool write, unsigned len = 8) {
    tlm::tlm_generic_payload* gp = pool.acquire();
    uint64_t buf = 0;
    gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    gp->set_address(pa);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&buf));
    gp->set_data_length(len);
    gp->set_streaming_width(len);
    PcieExt& x = pcie(*gp);
    x.rid = rid;
    x.at = AddrType::Translated;
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    dma->b_transport(*gp, d);
    DmaResult r;
    r.st = gp->get_response_status();
    r.io = x.status;
    r.data = buf;
    gp->release();
    wait(d);
    return r;
  }
  void wait_until(const sc_core::sc_time& t) {
    ASSERT_GE(t, sc_core::sc_time_stamp());
    wait(t - sc_core::sc_time_stamp());
  }
};

// The fixture every IOMMU model's unit tests share: sparse memory (90 ns, 16 GB/s: 62.5 ps per byte,
// so 8 B = 0.5 ns, 16 B = 1 ns, 64 B = 4 ns), the model and the test initiator, wired alike. The
// architecture's fixture sets the model's parameters (`p`) in its constructor.
template <class Model, class Params, class TbT>
class IommuFixture : public SimTest {
 protected:
  IommuFixture() {
    mp.latency = Time::ns(90);
    mp.bandwidth_gbps = 16.0;
  }
  void build_model(const char* name) {
    mem = std::make_unique<SparseMemory>("mem", mp);
    iommu = std::make_unique<Model>(name, p);
    tb = std::make_unique<TbT>("tb");
    iommu->mem.bind(mem->socket);
    tb->regs.bind(iommu->regs);
    tb->dma.bind(iommu->upstream);
  }
  void run(std::function<void(TbT&)> body) {
    tb->body = std::move(body);
    sc_core::sc_start();
  }
  double stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(iommu->stats().find(path, v)) << path;
    return v;
  }

  SparseMemoryParams mp;
  Params p;
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<Model> iommu;
  std::unique_ptr<TbT> tb;
};

}  // namespace iommusim::test
