// Unit tests of the PCIe Link timing and the RootPort: rates, saturation bandwidth, exact
// single-transaction timing, TLP splitting, error and extension pass-through, downstream forwarding.
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "models/common/pcie_ext.h"
#include "models/common/sim_time.h"
#include "models/pcie/link.h"
#include "models/pcie/root_port.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::SC_NS;
using sc_core::SC_PS;
using sc_core::sc_time;

// Memory-like target with a fixed latency; records every (sub)transaction it sees.
struct Target : sc_core::sc_module {
  tlm_utils::simple_target_socket<Target> sock{"sock"};
  sc_time latency;
  std::vector<uint8_t> mem = std::vector<uint8_t>(1 << 20);
  std::vector<unsigned> sizes;
  std::vector<uint64_t> addrs;
  uint64_t error_addr = UINT64_MAX;
  uint16_t last_rid = 0;
  uint64_t bytes = 0;
  bool record = true;

  Target(sc_core::sc_module_name n, sc_time lat) : sc_core::sc_module(n), latency(lat) {
    sock.register_b_transport(this, &Target::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
    const uint64_t a = gp.get_address();
    const unsigned len = gp.get_data_length();
    if (record) {
      sizes.push_back(len);
      addrs.push_back(a);
    }
    bytes += len;
    if (auto* e = gp.get_extension<PcieExt>()) last_rid = e->rid;
    delay += latency;
    if (a <= error_addr && error_addr < a + len) {
      gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return;
    }
    const uint64_t off = a & (mem.size() - 1);
    if (off + len <= mem.size()) {
      if (gp.is_read())
        std::memcpy(gp.get_data_ptr(), &mem[off], len);
      else if (gp.is_write())
        std::memcpy(&mem[off], gp.get_data_ptr(), len);
    }
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

struct Driver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Driver> sock{"sock"};
  std::function<void(Driver&)> body;
  tlm::tlm_generic_payload gp;  // reused: no allocation per transaction in the bandwidth runs
  PcieExt ext;
  SC_HAS_PROCESS(Driver);
  explicit Driver(sc_core::sc_module_name n) : sc_core::sc_module(n) {
    gp.set_extension(&ext);
    SC_THREAD(run);
  }
  ~Driver() override { gp.clear_extension(&ext); }
  void run() { body(*this); }
  tlm::tlm_response_status access(tlm::tlm_command cmd, uint64_t addr, void* data, unsigned len, sc_time& delay) {
    gp.set_command(cmd);
    gp.set_address(addr);
    gp.set_data_ptr(static_cast<unsigned char*>(data));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    gp.set_byte_enable_ptr(nullptr);
    gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sock->b_transport(gp, delay);
    return gp.get_response_status();
  }
};

// Device -> RootPort -> Target; the downstream sockets stay unbound unless a test binds them.
class PcieTest : public test::SimTest {
 protected:
  void build(const RootPortParams& p, sc_time target_latency) {
    rp_ = std::make_unique<RootPort>("rp", p);
    tgt_ = std::make_unique<Target>("tgt", target_latency);
    drv_ = std::make_unique<Driver>("dev");
    drv_->sock.bind(rp_->from_device);
    rp_->to_iommu.bind(tgt_->sock);
  }
  void run(std::function<void(Driver&)> body) {
    drv_->body = std::move(body);
    sc_core::sc_start();
  }
  double stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(rp_->stats().find(path, v)) << path;
    return v;
  }
  // Windowed initiator: request i issues once request i-window has completed (as the endpoint
  // does), with temporal decoupling; returns payload bytes/s measured between completions.
  double saturate(tlm::tlm_command cmd, unsigned size, sc_time horizon, unsigned window = 32) {
    double rate = 0;
    run([&](Driver& d) {
      tlm::tlm_global_quantum::instance().set(sc_time(1, sc_core::SC_US));
      tlm_utils::tlm_quantumkeeper qk;
      qk.reset();
      std::vector<sc_time> slot(window, sc_core::SC_ZERO_TIME);
      std::vector<uint8_t> buf(size, 0x5A);
      sc_time first, last;
      uint64_t n = 0;
      for (uint64_t i = 0;; ++i) {
        const sc_time& free_at = slot[i % window];
        if (free_at > qk.get_current_time()) qk.set(free_at - sc_core::sc_time_stamp());
        sc_time delay = qk.get_local_time();
        ASSERT_EQ(d.access(cmd, (i * size) & 0xFFFFF, buf.data(), size, delay), tlm::TLM_OK_RESPONSE);
        const sc_time done = sc_core::sc_time_stamp() + delay;
        slot[i % window] = done;
        if (qk.need_sync()) qk.sync();
        if (done > horizon) break;
        if (n++ == 0) first = done;
        last = done;
      }
      rate = static_cast<double>((n - 1) * size) / (to_ns(last - first) * 1e-9);
    });
    return rate;
  }
  std::unique_ptr<RootPort> rp_;
  std::unique_ptr<Target> tgt_;
  std::unique_ptr<Driver> drv_;
};

// Serialisation of b wire bytes at rate bytes/s, rounded to ps as the model does.
sc_time ser(double b, double rate) { return sc_time::from_value(static_cast<uint64_t>(std::llround(b * 1e12 / rate))); }

TEST_F(PcieTest, Gen3x8RawRate) {
  StatGroup g("g");
  Link l(LinkParams{}, &g);
  EXPECT_NEAR(l.raw_bytes_per_s(), 8e9 * 8 * 128.0 / 130.0 / 8, 1.0);
  EXPECT_NEAR(l.raw_bytes_per_s() / 1e9, 7.877, 0.001);
  EXPECT_NEAR(l.tlp_bytes_per_s(), l.raw_bytes_per_s() * 0.98, 1.0);
}

TEST_F(PcieTest, GenerationRatesAndEncodings) {
  StatGroup g("g");
  auto raw = [&](uint64_t gen, uint64_t width) {
    LinkParams p;
    p.gen = gen;
    p.width = width;
    return Link(p, &g, "l").raw_bytes_per_s();
  };
  EXPECT_DOUBLE_EQ(raw(1, 1), 250e6);  // 2.5 GT/s, 8b/10b
  EXPECT_DOUBLE_EQ(raw(2, 1), 500e6);  // 5 GT/s, 8b/10b
  EXPECT_NEAR(raw(3, 1), 8e9 * 128 / 130 / 8, 1e-3);
  EXPECT_NEAR(raw(3, 16) / 1e9, 15.75, 0.01);  // timing-anchors: Gen3 x16 15.75 GB/s
  EXPECT_NEAR(raw(4, 16) / 1e9, 31.5, 0.01);
  EXPECT_NEAR(raw(5, 16) / 1e9, 63.0, 0.03);
  EXPECT_NEAR(raw(6, 16) / 1e9, 64.0 * 16 * 242 / 256 / 8, 1e-6);
  // Gen2 doubles Gen1 but Gen3 is 1.97x Gen2 on the same lanes: 8b/10b vs 128b/130b.
  EXPECT_NEAR(raw(3, 4) / raw(2, 4), 8.0 / 5.0 * (128.0 / 130.0) / 0.8, 1e-12);
  // Serialisation of one 256 B write TLP (280 wire bytes, no DLLP share) per generation, x1.
  for (auto [gen, expect_ps] : {std::pair<uint64_t, uint64_t>{1, 1120000}, {2, 560000}, {3, 284375}}) {
    LinkParams p;
    p.gen = gen;
    p.width = 1;
    p.dllp_overhead = 0;
    p.latency = Time{};
    Link l(p, &g, "l");
    EXPECT_EQ(l.send_up(sc_core::SC_ZERO_TIME, 256).value(), expect_ps) << "gen " << gen;
    EXPECT_EQ(l.send_up(sc_core::SC_ZERO_TIME, 256).value(), 2 * expect_ps) << "occupancy, gen " << gen;
    EXPECT_EQ(l.send_down(sc_core::SC_ZERO_TIME, 256).value(), expect_ps) << "directions independent";
  }
}

TEST_F(PcieTest, InvalidParamsRejected) {
  StatGroup g("g");
  LinkParams p;
  p.width = 3;
  EXPECT_NE(p.validate(), nullptr);
  EXPECT_THROW(Link(p, &g), std::invalid_argument);
  p = LinkParams{};
  p.max_payload = 384;
  EXPECT_NE(p.validate(), nullptr);
  p = LinkParams{};
  p.read_completion_boundary = 256;
  EXPECT_NE(p.validate(), nullptr);
  EXPECT_EQ(LinkParams{}.validate(), nullptr);
}

TEST_F(PcieTest, ChunkingRules) {
  StatGroup g("g");
  Link l(LinkParams{}, &g);  // MPS 256, MRRS 512, RCB 64
  EXPECT_EQ(l.write_chunk(0x1000, 4096), 256u);
  EXPECT_EQ(l.write_chunk(0x1080, 4096), 128u);
  EXPECT_EQ(l.write_chunk(0x1080, 16), 16u);
  EXPECT_EQ(l.request_chunk(0x30, 512), 464u);
  EXPECT_EQ(l.completion_chunk(0x30, 464), 208u);  // up to the RCB boundary within MPS (0x100)
  EXPECT_EQ(l.completion_chunk(0x100, 256), 256u);
  EXPECT_EQ(l.completion_chunk(0x20, 200), 200u);
  EXPECT_EQ(l.completion_chunk(0x40, 4096), 256u);
}

// (c) A single 64 B read at t=0 through the port to a target with fixed latency: request header
// up, link, root complex, target, root complex, completion down, link.
TEST_F(PcieTest, SingleReadCompletesAtHandComputedTime) {
  RootPortParams p;  // Gen3 x8, 24 B request overhead, 20 B completion overhead, 2% DLLP
  const sc_time L = to_sc(p.link.latency), R = to_sc(p.rc_latency), Lt(50, SC_NS);
  build(p, Lt);
  const double eff = 8e9 * 8 * (128.0 / 130.0) / 8 * (1 - 0.02);  // 7.7194 GB/s for TLPs
  EXPECT_EQ(ser(24, eff), sc_time(3109, SC_PS));                   // 24 B request
  EXPECT_EQ(ser(84, eff), sc_time(10882, SC_PS));                  // 64 B data + 20 B completion
  const sc_time expect = ser(24, eff) + L + R + Lt + R + ser(84, eff) + L;
  EXPECT_EQ(expect, sc_time(543991, SC_PS));
  sc_time done_at;
  uint8_t buf[64];
  for (int i = 0; i < 64; ++i) tgt_->mem[0x4000 + i] = static_cast<uint8_t>(i);
  run([&](Driver& d) {
    sc_time delay = sc_core::SC_ZERO_TIME;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, 0x4000, buf, 64, delay), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(delay, expect);
    sc_core::wait(delay - sc_time(1, SC_PS));
    EXPECT_LT(sc_core::sc_time_stamp(), expect);  // not done 1 ps early
    sc_core::wait(sc_time(1, SC_PS));
    done_at = sc_core::sc_time_stamp();
  });
  EXPECT_EQ(done_at, expect);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(buf[i], i);
  EXPECT_EQ(stat("link.tlps_up"), 1.0);
  EXPECT_EQ(stat("link.tlps_down"), 1.0);
  EXPECT_EQ(stat("link.bytes_down"), 64.0);
}

TEST_F(PcieTest, SingleWriteLandsAtHandComputedTime) {
  RootPortParams p;
  const sc_time L = to_sc(p.link.latency), R = to_sc(p.rc_latency), Lt(50, SC_NS);
  build(p, Lt);
  const double eff = 8e9 * 8 * (128.0 / 130.0) / 8 * 0.98;
  const sc_time expect = ser(64 + 24, eff) + L + R + Lt;  // returned delay: landing at the target
  run([&](Driver& d) {
    uint8_t buf[64] = {1, 2, 3};
    sc_time delay(10, SC_NS);  // issued at local time 10 ns
    ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 0x80, buf, 64, delay), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(delay, sc_time(10, SC_NS) + expect);
  });
  EXPECT_EQ(tgt_->mem[0x82], 3);
}

// (b) Saturated link: measured payload throughput within 2% of raw * payload share * (1 - DLLP).
TEST_F(PcieTest, SaturatedWritesDeliverConfiguredBandwidth) {
  RootPortParams p;
  build(p, sc_core::SC_ZERO_TIME);
  tgt_->record = false;
  const double expect = 8e9 * 8 * (128.0 / 130.0) / 8 * (256.0 / (256 + 24)) * (1 - 0.02);
  const double got = saturate(tlm::TLM_WRITE_COMMAND, 256, sc_time(100, sc_core::SC_US));
  EXPECT_NEAR(got / expect, 1.0, 0.02) << got / 1e9 << " GB/s vs " << expect / 1e9;
  EXPECT_GT(stat("link.utilisation_up"), 0.95);
  EXPECT_GT(stat("link.wait_ns_up"), 0.0);
}

TEST_F(PcieTest, SaturatedReadsDeliverConfiguredBandwidth) {
  RootPortParams p;
  build(p, sc_core::SC_ZERO_TIME);
  tgt_->record = false;
  // 512 B requests come back as two 256 B completions with 20 B overhead each.
  const double expect = 8e9 * 8 * (128.0 / 130.0) / 8 * (256.0 / (256 + 20)) * (1 - 0.02);
  const double got = saturate(tlm::TLM_READ_COMMAND, 512, sc_time(100, sc_core::SC_US));
  EXPECT_NEAR(got / expect, 1.0, 0.02) << got / 1e9 << " GB/s vs " << expect / 1e9;
  EXPECT_NEAR(stat("link.tlps_down"), 2 * stat("link.tlps_up"), 0.5);
}

TEST_F(PcieTest, Gen1BandwidthIsEightTenths) {
  RootPortParams p;
  p.link.gen = 1;
  p.link.width = 4;
  build(p, sc_core::SC_ZERO_TIME);
  tgt_->record = false;
  const double expect = 2.5e9 * 4 * 0.8 / 8 * (256.0 / 280) * 0.98;  // ~0.896 GB/s
  const double got = saturate(tlm::TLM_WRITE_COMMAND, 256, sc_time(100, sc_core::SC_US), 64);
  EXPECT_NEAR(got / expect, 1.0, 0.02) << got / 1e9;
}

// (d) Large transfers split into TLPs; each TLP reaches the target as its own transaction.
TEST_F(PcieTest, LargeWriteSplitsAtMaxPayload) {
  build(RootPortParams{}, sc_time(10, SC_NS));
  std::vector<uint8_t> src(4096);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 13 + 1);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 0x10000, src.data(), 4096, delay), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(d.gp.get_address(), 0x10000u);  // restored after slicing
    EXPECT_EQ(d.gp.get_data_length(), 4096u);
    EXPECT_EQ(d.gp.get_data_ptr(), src.data());
  });
  EXPECT_EQ(stat("link.tlps_up"), 16.0);
  EXPECT_EQ(stat("link.bytes_up"), 4096.0);
  EXPECT_EQ(stat("link.wire_bytes_up"), 4096.0 + 16 * 24);
  ASSERT_EQ(tgt_->sizes.size(), 16u);
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(tgt_->sizes[i], 256u);
    EXPECT_EQ(tgt_->addrs[i], 0x10000u + 256 * i);
  }
  EXPECT_EQ(0, std::memcmp(&tgt_->mem[0x10000], src.data(), 4096));
}

TEST_F(PcieTest, UnalignedWriteNeedsOneMoreTlp) {
  build(RootPortParams{}, sc_core::SC_ZERO_TIME);
  std::vector<uint8_t> src(4096, 7);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 0x10080, src.data(), 4096, delay), tlm::TLM_OK_RESPONSE);
  });
  EXPECT_EQ(stat("link.tlps_up"), 17.0);
  ASSERT_EQ(tgt_->sizes.size(), 17u);
  EXPECT_EQ(tgt_->sizes.front(), 128u);
  EXPECT_EQ(tgt_->sizes.back(), 128u);
}

TEST_F(PcieTest, LargeReadSplitsRequestsAndCompletions) {
  build(RootPortParams{}, sc_time(10, SC_NS));
  for (size_t i = 0; i < 8192; ++i) tgt_->mem[0x20000 + i] = static_cast<uint8_t>(i ^ (i >> 8));
  std::vector<uint8_t> dst(4096);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, 0x20000, dst.data(), 4096, delay), tlm::TLM_OK_RESPONSE);
  });
  EXPECT_EQ(stat("link.tlps_up"), 8.0);     // 4096 / MRRS 512
  EXPECT_EQ(stat("link.tlps_down"), 16.0);  // 4096 / MPS 256
  EXPECT_EQ(stat("link.bytes_down"), 4096.0);
  EXPECT_EQ(stat("link.wire_bytes_down"), 4096.0 + 16 * 20);
  EXPECT_EQ(stat("reads"), 1.0);
  EXPECT_EQ(tgt_->sizes, std::vector<unsigned>(8, 512));
  EXPECT_EQ(0, std::memcmp(dst.data(), &tgt_->mem[0x20000], 4096));
}

TEST_F(PcieTest, UnalignedReadCompletionsFollowRcb) {
  build(RootPortParams{}, sc_core::SC_ZERO_TIME);
  std::vector<uint8_t> dst(512);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_READ_COMMAND, 0x30, dst.data(), 512, delay), tlm::TLM_OK_RESPONSE);
  });
  // Requests: [0x30, 0x200) and [0x200, 0x230). Completions: 208 (to 0x100), 256, then 48.
  EXPECT_EQ(stat("link.tlps_up"), 2.0);
  EXPECT_EQ(stat("link.tlps_down"), 3.0);
  EXPECT_EQ(tgt_->sizes, (std::vector<unsigned>{464, 48}));
}

TEST_F(PcieTest, ErrorAndExtensionPassThrough) {
  build(RootPortParams{}, sc_core::SC_ZERO_TIME);
  tgt_->error_addr = 0x3000 + 700;  // inside the second 512 B request
  std::vector<uint8_t> buf(2048);
  run([&](Driver& d) {
    d.ext.rid = 0x0310;
    d.ext.pasid = 5;
    d.ext.pasid_valid = true;
    sc_time delay;
    EXPECT_EQ(d.access(tlm::TLM_READ_COMMAND, 0x3000, buf.data(), 2048, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(d.gp.get_address(), 0x3000u);
    EXPECT_EQ(d.gp.get_data_length(), 2048u);
    EXPECT_EQ(d.gp.get_extension<PcieExt>(), &d.ext);
    EXPECT_EQ(d.ext.pasid, 5u);
    EXPECT_GT(delay, sc_core::SC_ZERO_TIME);
  });
  EXPECT_EQ(tgt_->last_rid, 0x0310);
  EXPECT_EQ(tgt_->sizes.size(), 2u);  // stops at the failing request
  EXPECT_EQ(stat("errors"), 1.0);
}

// Host -> device traffic is forwarded whole, after crossing the root complex and the link down.
TEST_F(PcieTest, DownstreamForwarding) {
  RootPortParams p;
  const sc_time L = to_sc(p.link.latency), R = to_sc(p.rc_latency);
  rp_ = std::make_unique<RootPort>("rp", p);
  tgt_ = std::make_unique<Target>("iommu", sc_core::SC_ZERO_TIME);
  auto dev = std::make_unique<Target>("device", sc_time(5, SC_NS));
  drv_ = std::make_unique<Driver>("host");
  auto unused = std::make_unique<Driver>("unused_dev");
  unused->sock.bind(rp_->from_device);
  rp_->to_iommu.bind(tgt_->sock);
  drv_->sock.bind(rp_->from_host);
  rp_->to_device.bind(dev->sock);
  unused->body = [](Driver&) {};
  const double eff = 8e9 * 8 * (128.0 / 130.0) / 8 * 0.98;
  std::vector<uint8_t> msg(512, 9);
  run([&](Driver& d) {
    sc_time delay;
    ASSERT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 0x100, msg.data(), 512, delay), tlm::TLM_OK_RESPONSE);
    // Two 256 B TLPs down; forwarded when the second has arrived.
    EXPECT_EQ(delay, R + ser(280, eff) + ser(280, eff) + L + sc_time(5, SC_NS));
  });
  EXPECT_EQ(dev->sizes, std::vector<unsigned>{512});
  EXPECT_EQ(stat("link.tlps_down"), 2.0);
  EXPECT_EQ(stat("down_writes"), 1.0);
}

TEST_F(PcieTest, UnboundDownstreamIsAnError) {
  build(RootPortParams{}, sc_core::SC_ZERO_TIME);
  auto host = std::make_unique<Driver>("host");
  host->sock.bind(rp_->from_host);
  drv_->body = [](Driver&) {};
  host->body = [](Driver& d) {
    uint8_t b[8] = {};
    sc_time delay;
    EXPECT_EQ(d.access(tlm::TLM_WRITE_COMMAND, 0, b, 8, delay), tlm::TLM_ADDRESS_ERROR_RESPONSE);
  };
  sc_core::sc_start();
}

}  // namespace
}  // namespace iommusim
