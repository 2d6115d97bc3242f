// PCIe attributes carried by every transaction on the I/O side: requester ID, PASID prefix,
// address type (AT) and, for messages, their kind and payload fields.
#pragma once
#include <tlm>

#include <cstdint>

namespace iommusim {

// PCIe AT field of a memory request.
enum class AddrType : uint8_t { Untranslated = 0, TranslationRequest = 1, Translated = 2 };

// Message TLPs used by ATS and PRI (carried as TLM writes with no memory target).
enum class MsgKind : uint8_t {
  None = 0,       // an ordinary memory request
  AtsInvRequest,  // IOMMU -> device: invalidate ATC range (ITag, PASID, global)
  AtsInvCompletion,
  PageRequest,    // device -> IOMMU: PRI page request (PRG index, Last)
  PrgResponse,    // IOMMU -> device: page request group response
};

// Completion status of a translated access, set by the IOMMU on fault so the requester
// can tell a translation fault (UR/CA to the device) from a successful access.
// InterruptFault: an interrupt request (x86 0xFEEx_xxxx write) refused by interrupt remapping.
enum class IoStatus : uint8_t { Ok = 0, TranslationFault, PermissionFault, Aborted, ConfigFault, InterruptFault };

struct PcieExt : tlm::tlm_extension<PcieExt> {
  uint16_t rid = 0;          // requester ID (bus/dev/fn) = SMMU StreamID, VT-d source-id
  uint32_t pasid = 0;        // 20-bit PASID from the TLP prefix
  bool pasid_valid = false;
  bool pmr = false;          // privileged mode requested
  bool er = false;           // execute requested
  AddrType at = AddrType::Untranslated;
  MsgKind msg = MsgKind::None;
  IoStatus status = IoStatus::Ok;
  // Message fields (ATS invalidation / PRI), meaning depends on msg. Downstream messages are
  // routed by ID: rid is then the destination device, upstream it is the sender.
  uint32_t itag_or_prg = 0;  // ITag (Invalidate Request), ITag vector (Completion) or PRG index
  uint8_t cc = 0;            // Invalidate Completion: completion count
  bool last = false;         // PRI Last
  uint8_t resp_code = 0;     // PRG response code
  bool nw = false;           // Translation Request: no write permission needed
  // Set by the IOMMU for diagnostics and scoreboards: did this access walk the tables?
  bool walked = false;

  void reset() { *this = PcieExt{}; }
  tlm::tlm_extension_base* clone() const override { return new PcieExt(*this); }
  void copy_from(const tlm::tlm_extension_base& e) override { *this = static_cast<const PcieExt&>(e); }
};

}  // namespace iommusim
