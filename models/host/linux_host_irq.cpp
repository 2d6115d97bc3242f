// The host's MSI layer (R4): request_irq / free_irq per architecture, the doorbell mapping on Arm,
// unmanaged domains and the seed 001 domain-change policies.
//
// x86 (the device's IOMMU does not translate MSIs, R4.4): a vector from HostParams::msi.first_vector
// up on CPU 0; with interrupt remapping the IOMMU driver allocates an IRTE and hands back the
// remappable message, else the compatibility-format message targets the vector directly.
// Arm (SMMUv3: MSIs are ordinary translated writes, R4.2): the MSI controller (the ITS driver)
// allocates the LPI and names the doorbell; the doorbell page is then mapped once per domain into
// the RID's *current* domain (DMA domain: an IOVA from its allocator; unmanaged domain with an MSI
// cookie: the next page of the SW_MSI window; without one: EOPNOTSUPP) and the IOVA is what the
// vector holds. What happens when the RID's domain changes later is HostParams::msi.policy.
// Not modelled: identity domains, MSI (non-X), multi-vector MSI with one doorbell write per
// vector block, IRQ affinity changes (every interrupt targets CPU 0), threaded handlers' cost.
#include <sysc/kernel/sc_spawn.h>

#include <stdexcept>

#include "models/common/log.h"
#include "models/host/iommufd.h"
#include "models/host/its_msi.h"
#include "models/host/linux_host.h"
#include "models/irq/cpu_interrupts.h"
#include "models/pcie/dma_job.h"

namespace iommusim::host {
namespace {
constexpr int kEINVAL = 22, kEBUSY = 16, kENXIO = 6, kENOSPC = 28, kENOMEM = 12, kEOPNOTSUPP = 95, kENOENT = 2;
constexpr uint64_t kPage = 4096;
}  // namespace

LinuxHost::MsiStats::MsiStats(StatGroup& parent)
    : g("msi", &parent),
      requested(g.counter("requested", "request_irq calls that succeeded")),
      freed(g.counter("freed", "free_irq calls")),
      failed(g.counter("failed", "request_irq calls that failed (errno logged)")),
      doorbell_maps(g.counter("doorbell_maps", "Arm: doorbell pages mapped into a domain")),
      refused_attach(g.counter("refused_attach", "ordered policy: attaches refused because IRQs were requested")),
      installed(g.counter("installed", "MSI pages installed into a newly attached domain by the policy")) {}

void LinuxHost::bar_access(unsigned ep, bool write, uint64_t off, void* v, unsigned len) {
  tlm::tlm_generic_payload gp;
  gp.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  gp.set_address(off);
  gp.set_data_ptr(static_cast<unsigned char*>(v));
  gp.set_data_length(len);
  gp.set_streaming_width(len);
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  bars[ep]->b_transport(gp, d);
  if (!gp.is_response_ok())
    throw std::runtime_error("host: device " + eps_.at(ep).name + " refused a BAR access at " + std::to_string(off));
  cpu_.spend(d, Cpu::Cat::Other);
}

LinuxHost::Irq* LinuxHost::find_irq(unsigned ep, uint16_t vector) const {
  for (const auto& q : irqs_)
    if (q->live && q->ep == ep && q->vector == vector) return q.get();
  return nullptr;
}

LinuxHost::MsiCookie& LinuxHost::cookie(IommuDomain& d) {
  auto& c = cookies_[&d];
  if (!c) {
    c = std::make_unique<MsiCookie>();
    c->kind = MsiCookie::Kind::Unmanaged;
    for (const auto& e : eps_)
      if (e.dma && &e.dma->domain() == &d) c->kind = MsiCookie::Kind::Dma;
  }
  return *c;
}

IommuDomain& LinuxHost::alloc_unmanaged_domain(unsigned ep, bool msi_cookie) {
  unmanaged_.push_back(drivers_.at(eps_.at(ep).iommu)->alloc_paging_domain());
  IommuDomain& d = *unmanaged_.back();
  MsiCookie& c = cookie(d);
  c.kind = MsiCookie::Kind::Unmanaged;
  c.msi_cookie = msi_cookie;
  return d;
}

uint64_t LinuxHost::sw_msi_iova(uint64_t page) {
  auto it = sw_msi_pages_.find(page);
  if (it != sw_msi_pages_.end()) return it->second;
  const uint64_t n = sw_msi_pages_.size();
  // R4.3: at most 64 doorbell pages, never beyond the window.
  if (n >= 64 || (n + 1) * kPage > p_.msi.sw_msi_size) return 0;
  const uint64_t iova = p_.msi.sw_msi_base + n * kPage;
  sw_msi_pages_.emplace(page, iova);
  return iova;
}

namespace {
// iommu_map of one MMIO page (write, no execute) into a domain, with the DMA API's CPU costs.
bool map_msi_page(IommuDomain& d, Cpu& cpu, const CpuCosts& c, uint64_t iova, uint64_t page) {
  if (auto pa = d.iova_to_phys(iova)) return (*pa & ~(kPage - 1)) == page;
  IoProt prot;
  prot.read = false;
  const PgWork w = d.map(iova, page, kPage, prot, kPage);
  cpu.spend(to_sc(c.map_call) + to_sc(c.pte_write) * static_cast<double>(w.ptes) +
                to_sc(c.table_alloc) * static_cast<double>(w.tables),
            Cpu::Cat::Map);
  return true;
}
}  // namespace

int LinuxHost::prepare_msi(unsigned ep, IommuDomain& d, uint64_t doorbell_pa, uint64_t& iova) {
  const uint64_t page = doorbell_pa & ~(kPage - 1);
  MsiCookie& c = cookie(d);
  if (auto it = c.pages.find(page); it != c.pages.end()) {
    iova = it->second;
    return 0;
  }
  if (p_.msi.policy == MsiPolicy::IommufdSwMsi) {
    iova = sw_msi_iova(page);
    if (!iova) return -kENOSPC;
    if (!map_msi_page(d, cpu_, p_.cost, iova, page)) return -kEINVAL;
  } else if (c.kind == MsiCookie::Kind::Dma) {
    IoProt prot;
    prot.read = false;
    iova = dma_domain(ep).map(page, kPage, prot, kPage);
    if (!iova) return -kENOMEM;
  } else if (c.msi_cookie) {
    if (c.next + kPage > p_.msi.sw_msi_size) return -kENOSPC;
    iova = p_.msi.sw_msi_base + c.next;
    c.next += kPage;
    if (!map_msi_page(d, cpu_, p_.cost, iova, page)) return -kEINVAL;
  } else {
    return -kEOPNOTSUPP;  // R4.2: an unmanaged domain without an MSI cookie
  }
  c.pages.emplace(page, iova);
  ++msi_stats_->doorbell_maps;
  return 0;
}

int LinuxHost::request_irq(unsigned ep, uint16_t vector) {
  auto& e = eps_.at(ep);
  auto& log = *log::get(name());
  auto fail = [&](int err, const char* why) {
    ++msi_stats_->failed;
    log.warn("request_irq {} vector {}: {} ({})", e.name, vector, why, err);
    return err;
  };
  cpu_.spend(to_sc(p_.msi.request_irq), Cpu::Cat::Other);
  if (!intc_) return fail(-kENXIO, "no interrupt controller on the platform");
  if (find_irq(ep, vector)) return fail(-kEBUSY, "the vector already has an interrupt");
  uint16_t ctrl = 0;
  bar_access(ep, false, kMsixControlOffset, &ctrl, 2);  // reads 0 without the capability
  const unsigned nvecs = ctrl ? (ctrl & 0x7FFu) + 1u : 0u;
  if (vector >= nvecs) return fail(-kEINVAL, "no such MSI-X vector");

  auto q = std::make_unique<Irq>();
  q->ep = ep;
  q->vector = vector;
  IommuDriver& drv = *drivers_.at(e.iommu);
  if (!drv.msi_translated()) {
    // x86: a CPU vector, remapped through an IRTE when the IOMMU remaps interrupts.
    if (p_.msi.first_vector + next_vector_ > 0xEF) return fail(-kENOSPC, "no free CPU vector");
    const uint8_t vec = static_cast<uint8_t>(p_.msi.first_vector + next_vector_);
    q->cpu = 0;
    q->intid = vec;
    if (drv.remaps_interrupts()) {
      if (const int err = drv.irq_remap_alloc(e.pci, q->cpu, vec, q->msg, q->remap_handle))
        return fail(err, "no IRTE");
      q->remapped = true;
    } else {
      q->msg = {0xFEE00000ull | uint64_t{q->cpu} << 12, vec};
    }
    ++next_vector_;
  } else {
    if (!msi_ctrl_) return fail(-kENXIO, "no MSI controller (ITS) on the platform");
    MsiTarget t;
    if (const int err = msi_ctrl_->alloc(e.rid, nvecs, vector, t)) return fail(err, "the MSI controller refused");
    q->controller = true;
    q->cpu = t.cpu;
    q->intid = t.intid;
    q->doorbell_pa = t.doorbell_pa;
    uint64_t iova = t.doorbell_pa;
    if (iommufd_ && iommufd_->device_hwpt(ep)) {
      // The RID's domain is an iommufd HWPT: the context's SW MSI window (R4.3), whatever the policy.
      if (const int err = iommufd_->get_msi_iova(ep, t.doorbell_pa, iova)) {
        msi_ctrl_->free(e.rid, vector);
        return fail(err, "iommufd has no MSI IOVA for the doorbell");
      }
      iova &= ~(kPage - 1);
      q->prepared_on = e.pci.domain;
    } else if (e.pci.domain) {
      if (const int err = prepare_msi(ep, *e.pci.domain, t.doorbell_pa, iova)) {
        msi_ctrl_->free(e.rid, vector);
        return fail(err, err == -kEOPNOTSUPP ? "the RID's domain is unmanaged and has no MSI cookie"
                                             : "no IOVA for the doorbell page");
      }
      q->prepared_on = e.pci.domain;
    }
    q->msg = {iova + (t.doorbell_pa & (kPage - 1)), t.data};
  }
  // Program the vector, unmask it, enable MSI-X (pci_msix_write_vector_ctrl and friends).
  const uint64_t ent = kMsixTableOffset + uint64_t{vector} * 16;
  uint32_t lo = static_cast<uint32_t>(q->msg.addr), hi = static_cast<uint32_t>(q->msg.addr >> 32), data = q->msg.data;
  uint32_t unmask = 0;
  bar_access(ep, true, ent, &lo, 4);
  bar_access(ep, true, ent + 4, &hi, 4);
  bar_access(ep, true, ent + 8, &data, 4);
  bar_access(ep, true, ent + 12, &unmask, 4);
  uint16_t en = kMsixControlEnable;
  bar_access(ep, true, kMsixControlOffset, &en, 2);
  intc_->set_handler(q->cpu, q->intid, &q->ev);
  Irq* irq = q.get();
  irqs_.push_back(std::move(q));
  sc_core::sc_spawn([irq] {
    for (;;) {
      sc_core::wait(irq->ev);
      if (irq->live) ++irq->handled;
    }
  });
  ++msi_stats_->requested;
  log.debug("request_irq {} vector {}: intid {} on cpu {}, message {:#x}/{:#x}", e.name, vector, irq->intid, irq->cpu,
            irq->msg.addr, irq->msg.data);
  return 0;
}

int LinuxHost::free_irq(unsigned ep, uint16_t vector) {
  Irq* q = find_irq(ep, vector);
  if (!q) return -kENOENT;
  auto& e = eps_.at(ep);
  cpu_.spend(to_sc(p_.msi.free_irq), Cpu::Cat::Other);
  uint32_t mask = kMsixVectorMasked;
  bar_access(ep, true, kMsixTableOffset + uint64_t{vector} * 16 + 12, &mask, 4);
  intc_->clear_handler(q->cpu, q->intid);
  if (q->remapped) drivers_.at(e.iommu)->irq_remap_free(e.pci, q->remap_handle);
  if (q->controller) msi_ctrl_->free(e.rid, vector);
  // The doorbell mapping stays for the domain's life, as Linux's msi cookie pages do.
  q->live = false;
  ++msi_stats_->freed;
  return 0;
}

bool LinuxHost::trigger_msi(unsigned ep, uint16_t vector) {
  tlm::tlm_generic_payload gp;
  uint32_t v = vector;
  gp.set_command(tlm::TLM_WRITE_COMMAND);
  gp.set_address(kMsixTriggerOffset);
  gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
  gp.set_data_length(4);
  gp.set_streaming_width(4);
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  bars[ep]->b_transport(gp, d);  // device-internal: no CPU time
  return gp.is_response_ok();
}

uint64_t LinuxHost::irq_handled(unsigned ep, uint16_t vector) const {
  uint64_t n = 0;
  for (const auto& q : irqs_)
    if (q->ep == ep && q->vector == vector) n += q->handled;
  return n;
}

std::optional<MsiMsg> LinuxHost::irq_message(unsigned ep, uint16_t vector) const {
  if (const Irq* q = find_irq(ep, vector)) return q->msg;
  return std::nullopt;
}

int LinuxHost::attach_domain(unsigned ep, IommuDomain& d) {
  auto& e = eps_.at(ep);
  const MsiPolicy pol = p_.msi.policy;
  bool has_irqs = false;
  for (const auto& q : irqs_) has_irqs |= q->live && q->ep == ep && q->controller;
  if (pol == MsiPolicy::Ordered && has_irqs && e.pci.domain != &d) {
    ++msi_stats_->refused_attach;
    log::get(name())->warn("attach {}: IRQs were requested on its current domain; the ordered policy requires "
                           "attaching first (EBUSY)", e.name);
    return -kEBUSY;
  }
  if (const int err = try_attach(ep, d)) return err;
  if (pol != MsiPolicy::SharedTables && pol != MsiPolicy::IommufdSwMsi) return 0;
  // The new domain must translate each live MSI's IOVA to its doorbell page.
  for (const auto& q : irqs_) {
    if (!q->live || q->ep != ep || !q->controller) continue;
    const uint64_t page = q->doorbell_pa & ~(kPage - 1);
    const uint64_t iova = q->msg.addr & ~(kPage - 1);
    MsiCookie& c = cookie(d);
    if (!map_msi_page(d, cpu_, p_.cost, iova, page)) {
      log::get(name())->warn("attach {}: IOVA {:#x} of its MSI is taken in the new domain", e.name, iova);
      continue;
    }
    if (c.pages.emplace(page, iova).second) ++msi_stats_->installed;
  }
  return 0;
}

}  // namespace iommusim::host
