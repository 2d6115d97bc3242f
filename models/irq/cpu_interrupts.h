// The CPU side of interrupt delivery: the interrupt controllers' target (the ITS hands it LPIs, the
// x86 interrupt window takes compatibility-format MSI writes) and the accounting of every interrupt
// that was raised: delivered, spurious or lost, per CPU interrupt (x86 vector / GIC INTID) and per
// raising source (requester ID and MSI-X vector), with the latency from the device's write to
// delivery.
//
// What it models: the x86 interrupt window (0xFEE0_0000-0xFEEF_FFFF in the physical address map,
// Intel SDM vol. 3 sect. 11.11: destination ID in address[19:12] (x2APIC: the upper 24 bits in
// address[63:40]), redirection hint bit 3, destination mode bit 2; vector in data[7:0], delivery
// mode [10:8], trigger mode bit 15) and a fixed controller-to-CPU delivery time. The kernel registers
// a handler per (CPU, interrupt) (request_irq); an interrupt arriving for one without a handler, or
// for a CPU that does not exist, is spurious. A delivered interrupt notifies the handler's event at
// its delivery time.
//
// What it does NOT model: priorities, masking by the CPU (TPR/PMR), pending/active state, EOI,
// coalescing of a second edge while one is pending, IPIs, logical destination mode and lowest-
// priority redirection (the physical destination is taken as is), level-triggered interrupts,
// NMI/SMI/INIT delivery modes (delivered like fixed ones), the GIC redistributor's LPI
// configuration and pending tables.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <map>
#include <memory>

#include <spdlog/spdlog.h>

#include "models/common/params.h"
#include "models/common/timeline.h"
#include "models/common/stats.h"
#include "models/irq/irq_sink.h"

namespace iommusim {

struct CpuInterruptsParams {
  uint64_t cpus = 4;  // APIC IDs / GIC processor numbers 0..cpus-1
  // No published figure for the controller-to-core leg alone: an estimate (a few tens of ns of
  // on-die fabric), to vary.
  Time delivery_latency = Time::ns(40);

  void visit(ParamVisitor& v) {
    v.count("cpus", cpus, "CPUs interrupts may target (APIC IDs / GIC processor numbers 0..cpus-1)", 1, 4096);
    v.time("delivery_latency", delivery_latency,
           "interrupt controller to CPU (estimate: no published figure isolates this leg)", Time{}, Time::us(100));
  }
};

class CpuInterrupts : public sc_core::sc_module, public HasStats, public IrqSink {
 public:
  static constexpr uint64_t kX86WindowBase = 0xFEE00000ull, kX86WindowSize = 0x100000ull;

  // The x86 interrupt window: compatibility-format MSI writes (from interrupt remapping, or from
  // devices when remapping is off).
  tlm_utils::simple_target_socket_optional<CpuInterrupts> x86_window;  // unbound on Arm platforms

  CpuInterrupts(sc_core::sc_module_name name, const CpuInterruptsParams& p);

  // request_irq: interrupts `intid` on `cpu` now have a handler, woken at each delivery. The
  // event is owned by the caller.
  void set_handler(uint32_t cpu, uint32_t intid, sc_core::sc_event* handler);
  // free_irq: later arrivals are spurious.
  void clear_handler(uint32_t cpu, uint32_t intid);

  void deliver(uint32_t cpu, uint32_t intid, const MsiTag* tag, const sc_core::sc_time& at) override;
  void lost(IrqLoss why, const MsiTag* tag, const sc_core::sc_time& at) override;

  uint64_t delivered() const { return delivered_.v; }
  uint64_t spurious() const { return spurious_.v; }
  uint64_t lost_total() const { return lost_.v; }
  uint64_t lost(IrqLoss why) const { return lost_by_[static_cast<unsigned>(why)]->v; }
  // Per raising source (requester ID, MSI-X vector): delivered / lost counts; 0 if never seen.
  uint64_t delivered_from(uint16_t rid, uint16_t vector) const;
  uint64_t lost_from(uint16_t rid, uint16_t vector) const;
  const Histogram& latency() const { return latency_ns_; }
  StatGroup& stats() override { return stats_; }

 private:
  struct Source {
    Source(StatGroup& parent, const std::string& name);
    StatGroup g;
    Counter& delivered;
    Counter& spurious;
    Counter& lost;
    Histogram& latency_ns;
  };
  struct Line {  // one (CPU, interrupt) the kernel knows
    Line(StatGroup& parent, const std::string& name);
    StatGroup g;
    Counter& delivered;
    Counter& spurious;
    sc_core::sc_event* handler = nullptr;
  };
  void x86_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  Source* source(const MsiTag* tag);
  Line& line(uint32_t cpu, uint32_t intid);
  static uint64_t key(uint32_t cpu, uint32_t intid) { return uint64_t{cpu} << 32 | intid; }

  CpuInterruptsParams p_;
  sc_core::sc_time delivery_;
  StatGroup stats_;
  StatGroup sources_g_, lines_g_;
  Counter& delivered_;
  Counter& spurious_;
  Counter& lost_;
  Counter* lost_by_[static_cast<unsigned>(IrqLoss::Count)];
  Counter& x86_writes_;
  Counter& x86_bad_;
  Histogram& latency_ns_;
  std::map<uint32_t, std::unique_ptr<Source>> sources_;
  std::map<uint64_t, std::unique_ptr<Line>> lines_;
  std::shared_ptr<spdlog::logger> log_;
  timeline::Track tl_;
};

}  // namespace iommusim
