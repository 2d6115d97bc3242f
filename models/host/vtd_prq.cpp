// Host VT-d driver, page requests (VT-d chapter 7, R3.1, R3.5, R3.6): the page request queue, its
// servicing thread, page group responses and the drain at PASID teardown.
#include <sysc/kernel/sc_spawn.h>

#include "models/common/log.h"
#include "models/host/vtd_driver.h"

namespace iommusim::host {

using namespace iommusim::vtd;

namespace {
// How often the servicing thread looks at the queue while a PRI device is bound and no page request
// event is wired. It stands for the interrupt and the threaded handler's wake-up; not measured.
const sc_core::sc_time kPrqPoll(1, sc_core::SC_US);
}  // namespace

void VtdDriver::prq_enable() {
  const unsigned order = static_cast<unsigned>(p_.prq_order);
  prq_entries_ = prq_entries(order);
  const uint64_t bytes = uint64_t{4096} << order;
  prq_ = alloc_.alloc(bytes, bytes);  // naturally aligned, as the page allocator gives an order-4 block
  mem_.zero(prq_, bytes);
  cpu_.spend(to_sc(p_.cost.table_alloc) * static_cast<double>(bytes / 4096), Cpu::Cat::Other);
  prq_head_ = 0;
  mmio_.write64(reg::PQH, 0);
  mmio_.write64(reg::PQT, 0);
  mmio_.write64(reg::PQA, prq_ | pqa::PQS.make(order));
  mmio_.write32(reg::PECTL, 0);  // unmask the page request event
  sc_core::sc_spawn([this] { prq_thread(); }, (name_ + "_prq").c_str());
  if (prq_irq_)
    sc_core::sc_spawn(
        [this] {
          for (;;) {
            sc_core::wait(*prq_irq_);
            prq_irq_pending_ = true;
            prq_kick_.notify(sc_core::SC_ZERO_TIME);
          }
        },
        (name_ + "_prq_irq").c_str());
}

void VtdDriver::pri_on(PciDevice& dev) {
  if (dev.pri_enabled) return;
  dev.set_pri(true, prq_entries_);  // R3.2: the device grants min(capacity, the queue's depth)
  ++pri_devices_;
  prq_kick_.notify(sc_core::SC_ZERO_TIME);
}

void VtdDriver::pri_off(PciDevice& dev) {
  if (!dev.pri_enabled) return;
  dev.set_pri(false, 0);
  if (pri_devices_) --pri_devices_;
}

bool VtdDriver::canonical(uint64_t va) const {
  const unsigned bits = p_.cpu_arch == CpuArch::X86_64_La57 ? 57 : 48;  // the CPU's virtual address width
  const unsigned s = 64 - bits;
  return static_cast<uint64_t>(static_cast<int64_t>(va << s) >> s) == va;
}

void VtdDriver::prq_thread() {
  for (;;) {
    if (pri_devices_ == 0) {  // nothing can send page requests: sleep until PRI is enabled
      sc_core::wait(prq_kick_);
      continue;
    }
    if (!prq_pending() && !prq_irq_pending_) {
      if (prq_irq_)
        sc_core::wait(prq_kick_);
      else
        sc_core::wait(kPrqPoll);
      continue;
    }
    prq_irq_pending_ = false;
    prq_service();
  }
}

// The interrupt stand-in: a descriptor in the slot after the last one serviced (consumed slots are
// cleared, so a stale one never looks new). No CPU time: an idle interrupt line costs none.
bool VtdDriver::prq_pending() {
  uint64_t qw0 = 0;
  mem_.read(prq_ + uint64_t{prq_head_} * PRQ_DESC_BYTES, &qw0, 8);
  return (qw0 & 0xFF) != 0;
}

// What Linux's page-request thread does: PPR cleared first (so a later request raises the event
// again), every descriptor between PQH and PQT handled in order, PQH moved to PQT, and an overflow
// cleared once the queue is seen empty.
void VtdDriver::prq_service() {
  mmio_.write32(reg::PRS, prs::PPR);
  const uint32_t tail = prq_index(mmio_.read(reg::PQT, 8));
  uint32_t head = prq_index(mmio_.read(reg::PQH, 8));
  while (head != tail && head < prq_entries_) {
    const uint64_t slot = prq_ + uint64_t{head} * PRQ_DESC_BYTES;
    Desc d;
    mem_.read(slot, d.qw, PRQ_DESC_BYTES);
    mem_.zero(slot, PRQ_DESC_BYTES);
    cpu_.spend(to_sc(p_.cost.prq_entry), Cpu::Cat::Other);  // read and decode one descriptor
    const PageRequest r = decode_page_request(d);
    ++page_requests_;
    // R3.1: requests the driver answers itself.
    if (!canonical(r.addr) || (r.priv && (r.read || r.write)) || (r.exe && r.read)) {
      prq_bad(r);
    } else if (r.lpig && !r.read && !r.write) {
      ++stop_markers_;  // a stop marker needs no response
    } else if (!devs_.count(r.rid) || !iopf_) {
      prq_bad(r);  // no device of this unit at that requester ID
    } else {
      IoPageFault f;
      f.rid = r.rid;
      f.pasid_valid = r.pasid_present;
      f.pasid = r.pasid_present ? r.pasid : 0;
      f.addr = r.addr;
      f.read = r.read;
      f.write = r.write;
      f.exec = r.exe;
      f.priv = r.priv;
      f.last = r.lpig;
      f.grpid = r.prgi;
      iopf_->report(*this, f);
    }
    head = ring_next(head, prq_entries_);
  }
  mmio_.write64(reg::PQH, prq_reg(tail));
  prq_head_ = tail;
  if (mmio_.read32(reg::PRS) & prs::PRO) {
    ++prq_overflows_;
    if (iopf_) iopf_->discard_partial(*this);  // R3.1: requests of their groups were lost
    const uint32_t h = prq_index(mmio_.read(reg::PQH, 8)), t = prq_index(mmio_.read(reg::PQT, 8));
    // Requests were lost while the queue was full; once it is empty the hardware may queue again.
    if (h == t) mmio_.write32(reg::PRS, prs::PRO);
  }
  prq_done_.notify(sc_core::SC_ZERO_TIME);
}

void VtdDriver::prq_bad(const PageRequest& r) {
  ++prq_bad_;
  log::get(name_)->debug("invalid page request rid {:#x} pasid {} addr {:#x}", r.rid, r.pasid, r.addr);
  if (!r.lpig) return;  // only a request that closes its group is answered
  PageGroupResp g;
  g.pasid_present = r.pasid_present;
  g.rc = prg_rc::INVALID;
  g.rid = r.rid;
  g.pasid = r.pasid;
  g.lpig = true;
  g.prgi = r.prgi;
  ++responses_;
  submit_one(encode(g));
}

void VtdDriver::page_response(const IoPageFault& f, PageResponse code) {
  if (!prq_on_ || f.stall) return;
  PageGroupResp g;
  g.pasid_present = f.pasid_valid;
  g.rc = static_cast<uint8_t>(code);
  g.rid = f.rid;
  g.pasid = f.pasid_valid ? f.pasid : 0;
  g.lpig = f.last;
  g.prgi = f.grpid;
  ++responses_;
  submit_one(encode(g));  // R3.5: synchronous, with a wait
}

// R1.5/R3.6 (VT-d 7.10): no request of the PASID left in the queue, then a fenced wait, the PASID's
// IOTLB and device-TLB invalidations and a wait with PD, repeated while an overflow is pending.
void VtdDriver::drain_prq(Dev& d, uint32_t pasid) {
  if (!prq_on_) return;
  ++drains_;
  const PciDevice& pci = *d.pci;
  for (;;) {
    const uint32_t t = prq_index(mmio_.read(reg::PQT, 8));
    bool pending = false;
    for (uint32_t h = prq_index(mmio_.read(reg::PQH, 8)); h != t && h < prq_entries_; h = ring_next(h, prq_entries_)) {
      Desc x;
      mem_.read(prq_ + uint64_t{h} * PRQ_DESC_BYTES, x.qw, PRQ_DESC_BYTES);
      cpu_.spend(to_sc(p_.cost.prq_entry), Cpu::Cat::Other);
      const PageRequest r = decode_page_request(x);
      if (r.pasid_present && r.pasid == pasid) {
        pending = true;
        break;
      }
    }
    if (!pending) break;
    sc_core::wait(kPrqPoll * 10.0, prq_done_);  // the servicing thread's next pass
  }
  WaitDesc fence;
  fence.fn = true;
  std::vector<Desc> descs{encode(fence)};
  if (pasid == 0) {
    IotlbInv it;
    it.g = gran::DOMAIN;
    it.did = d.rid_did;
    descs.push_back(encode(it));
  } else {
    PasidIotlbInv pi;
    pi.g = pgran::PASID_ALL;
    pi.did = sva_did_;
    pi.pasid = pasid;
    descs.push_back(encode(pi));
  }
  if (dt_ && pci.ats_cap) descs.push_back(devtlb_all(pci, pasid));
  for (;;) {
    submit(descs, true);
    if (!(mmio_.read32(reg::PRS) & prs::PRO)) break;
    sc_core::wait(kPrqPoll * 10.0, prq_done_);
  }
}

}  // namespace iommusim::host
