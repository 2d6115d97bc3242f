// The CPU side of interrupt delivery, as interrupt controllers (the ITS, the x86 interrupt window)
// see it, and the tag an endpoint puts on each MSI write so that delivery and loss can be matched
// to the write that raised them (latency, and the scoreboard "every MSI is delivered or counted
// as lost").
#pragma once
#include <systemc>
#include <tlm>

#include <cstdint>

namespace iommusim {

// Carried by an endpoint's MSI/MSI-X write from issue to delivery (IOMMUs forward the payload, or
// copy the tag onto the remapped write they issue). Instrumentation only: no hardware field.
struct MsiTag : tlm::tlm_extension<MsiTag> {
  uint16_t src_rid = 0;    // the writing function
  uint16_t vector = 0;     // its MSI-X table index
  uint64_t seq = 0;        // per-endpoint sequence number
  sc_core::sc_time issued;  // when the device issued the write

  tlm::tlm_extension_base* clone() const override { return new MsiTag(*this); }
  void copy_from(const tlm::tlm_extension_base& e) override { *this = static_cast<const MsiTag&>(e); }
};

// Why an interrupt never reached a CPU.
enum class IrqLoss : uint8_t {
  DmaFault,          // the MSI write faulted in the IOMMU (no translation for the doorbell IOVA)
  RemapFault,        // x86 interrupt remapping refused it (IRTE missing, not present, SID check)
  UnmappedDevice,    // ITS: DeviceID not mapped (MAPD) or beyond the device table
  UnmappedEvent,     // ITS: EventID not mapped (MAPTI) or beyond the device's ITT
  NotDoorbell,       // written to an interrupt controller at an address that is no doorbell
  Count
};

inline const char* irq_loss_name(IrqLoss l) {
  switch (l) {
    case IrqLoss::DmaFault: return "dma_fault";
    case IrqLoss::RemapFault: return "remap_fault";
    case IrqLoss::UnmappedDevice: return "unmapped_device";
    case IrqLoss::UnmappedEvent: return "unmapped_event";
    case IrqLoss::NotDoorbell: return "not_doorbell";
    default: return "unknown";
  }
}

// Implemented by the CPU interrupt model.
class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // An interrupt for `cpu` (APIC ID / GIC affinity), identified by `intid` (x86 vector, GIC LPI
  // INTID), arriving at absolute time `at`. `tag` is the raising write's tag, or nullptr for
  // interrupts without one (an IOMMU's own queue interrupt).
  virtual void deliver(uint32_t cpu, uint32_t intid, const MsiTag* tag, const sc_core::sc_time& at) = 0;
  // An interrupt dropped on its way, with the reason, at absolute time `at`.
  virtual void lost(IrqLoss why, const MsiTag* tag, const sc_core::sc_time& at) = 0;
};

}  // namespace iommusim
