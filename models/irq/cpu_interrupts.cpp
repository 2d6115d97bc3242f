#include "models/irq/cpu_interrupts.h"

#include <cstdio>
#include <cstring>

#include "models/common/log.h"
#include "models/common/sim_time.h"

namespace iommusim {

CpuInterrupts::Source::Source(StatGroup& parent, const std::string& name)
    : g(name, &parent),
      delivered(g.counter("delivered", "interrupts from this MSI-X vector delivered to a handler")),
      spurious(g.counter("spurious", "interrupts from this vector that arrived where no handler was")),
      lost(g.counter("lost", "interrupts from this vector dropped on their way")),
      latency_ns(g.histogram("latency", "ns", "device write to delivery at the CPU")) {}

CpuInterrupts::Line::Line(StatGroup& parent, const std::string& name)
    : g(name, &parent),
      delivered(g.counter("delivered", "interrupts delivered to this CPU interrupt's handler")),
      spurious(g.counter("spurious", "arrivals while no handler was registered")) {}

CpuInterrupts::CpuInterrupts(sc_core::sc_module_name name, const CpuInterruptsParams& p)
    : sc_core::sc_module(name),
      x86_window("x86_window"),
      p_(p),
      delivery_(to_sc(p.delivery_latency)),
      stats_(basename()),
      sources_g_("sources", &stats_),
      lines_g_("lines", &stats_),
      delivered_(stats_.counter("delivered", "interrupts delivered to a registered handler")),
      spurious_(stats_.counter("spurious", "interrupts for a CPU interrupt without a handler, or a CPU that does not exist")),
      lost_(stats_.counter("lost", "interrupts dropped on their way (IOMMU fault, remapping fault, ITS miss)")),
      x86_writes_(stats_.counter("x86_window.writes", "compatibility-format MSI writes received")),
      x86_bad_(stats_.counter("x86_window.bad", "reads, or writes that are not one 4-byte MSI (refused)")),
      latency_ns_(stats_.histogram("latency", "ns", "device MSI write to delivery at the CPU (tagged interrupts)")) {
  for (unsigned i = 0; i < static_cast<unsigned>(IrqLoss::Count); ++i)
    lost_by_[i] = &stats_.counter(std::string("lost.") + irq_loss_name(static_cast<IrqLoss>(i)),
                                  "interrupts dropped for this reason");
  x86_window.register_b_transport(this, &CpuInterrupts::x86_b_transport);
  log_ = log::get(this->name());
  tl_ = timeline::track(timeline::Kind::IrqController, this->name());
}

CpuInterrupts::Source* CpuInterrupts::source(const MsiTag* tag) {
  if (!tag) return nullptr;
  const uint32_t k = uint32_t{tag->src_rid} << 16 | tag->vector;
  auto& s = sources_[k];
  if (!s) {
    char n[32];
    std::snprintf(n, sizeof n, "%02x:%02x.%x/v%u", tag->src_rid >> 8, (tag->src_rid >> 3) & 0x1F, tag->src_rid & 7,
                  tag->vector);
    s = std::make_unique<Source>(sources_g_, n);
  }
  return s.get();
}

CpuInterrupts::Line& CpuInterrupts::line(uint32_t cpu, uint32_t intid) {
  auto& l = lines_[key(cpu, intid)];
  if (!l) l = std::make_unique<Line>(lines_g_, "cpu" + std::to_string(cpu) + "/" + std::to_string(intid));
  return *l;
}

void CpuInterrupts::set_handler(uint32_t cpu, uint32_t intid, sc_core::sc_event* handler) {
  line(cpu, intid).handler = handler;
}

void CpuInterrupts::clear_handler(uint32_t cpu, uint32_t intid) {
  if (auto it = lines_.find(key(cpu, intid)); it != lines_.end()) it->second->handler = nullptr;
}

void CpuInterrupts::deliver(uint32_t cpu, uint32_t intid, const MsiTag* tag, const sc_core::sc_time& at) {
  Source* s = source(tag);
  Line* l = cpu < p_.cpus ? &line(cpu, intid) : nullptr;
  if (!l || !l->handler) {
    ++spurious_;
    if (l) ++l->spurious;
    if (s) ++s->spurious;
    log_->debug("spurious interrupt {} on cpu {}", intid, cpu);
    timeline::instant(tl_, timeline::Cat::Irq, "spurious interrupt", at, tag ? tag->src_rid : 0, intid, cpu);
    return;
  }
  const sc_core::sc_time when = at + delivery_;
  ++delivered_;
  ++l->delivered;
  if (s) {
    ++s->delivered;
    const uint64_t ns = (to_ps(when) - to_ps(tag->issued)) / 1000;
    s->latency_ns.record(ns);
    latency_ns_.record(ns);
  }
  if (tag) timeline::span(tl_, timeline::Cat::Irq, "interrupt", tag->issued, when, tag->src_rid, intid, cpu);
  else timeline::instant(tl_, timeline::Cat::Irq, "interrupt", when, 0, intid, cpu);
  const sc_core::sc_time now = sim_now();
  l->handler->notify(when > now ? when - now : sc_core::SC_ZERO_TIME);
}

void CpuInterrupts::lost(IrqLoss why, const MsiTag* tag, const sc_core::sc_time& at) {
  ++lost_;
  ++*lost_by_[static_cast<unsigned>(why)];
  timeline::instant(tl_, timeline::Cat::Irq, irq_loss_name(why), at, tag ? tag->src_rid : 0, tag ? tag->vector : 0, 0);
  if (Source* s = source(tag)) ++s->lost;
}

uint64_t CpuInterrupts::delivered_from(uint16_t rid, uint16_t vector) const {
  auto it = sources_.find(uint32_t{rid} << 16 | vector);
  return it == sources_.end() ? 0 : it->second->delivered.v;
}

uint64_t CpuInterrupts::lost_from(uint16_t rid, uint16_t vector) const {
  auto it = sources_.find(uint32_t{rid} << 16 | vector);
  return it == sources_.end() ? 0 : it->second->lost.v;
}

void CpuInterrupts::x86_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  const uint64_t a = gp.get_address();
  if (!gp.is_write() || gp.get_data_length() != 4 || a - kX86WindowBase >= kX86WindowSize) {
    ++x86_bad_;
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  ++x86_writes_;
  uint32_t data;
  std::memcpy(&data, gp.get_data_ptr(), 4);
  const uint32_t dest = static_cast<uint32_t>((a >> 12) & 0xFF) | static_cast<uint32_t>((a >> 32) & 0xFFFFFF00u);
  deliver(dest, data & 0xFF, gp.get_extension<MsiTag>(), sim_now() + delay);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim
