// A process address space (Linux mm_struct) for SVA and I/O page faults: anonymous private VMAs
// placed top-down from a mmap base, CPU page tables in simulated memory in the CPU's own format
// (the tables an IOMMU's first stage walks when a device shares the process's address space),
// demand faults that allocate zeroed 4 KiB pages, munmap/mprotect/exit with mmu-notifier callbacks.
//
// Page-table entries are what Linux writes for user pages:
//  - x86-64 (4 or 5 levels, the format of VT-d first-stage and AMD-Vi v2 tables): P, RW if the VMA
//    is writable, US, XD unless executable; A always and D on writable pages. Linux sets A/D only
//    when the CPU touches the page; they are preset here because the IOMMU models never update
//    them, so a device write never needs a hardware dirty update. Tables: P|RW|US|A.
//  - VMSAv8-64 stage 1, 4 KiB granule, 48-bit TTB0 (the tables an SMMUv3 CD points at): AP[1]
//    (EL0), AP[2] unless writable, AF, nG, inner shareable, AttrIndx 0 (MT_NORMAL in Linux's
//    MAIR), PXN, UXN unless executable, DBM on writable pages (Linux's PTE_WRITE); writable pages
//    are mapped dirty (AP[2] clear) for the same reason as on x86.
//
// mmu notifiers (Linux's arch_invalidate_secondary_tlbs): called after the PTEs are cleared or
// downgraded and before the pages are freed, once per munmap/mprotect with the range of the entries
// changed ([start, end), end exclusive), as the CPU's TLB flush passes it; on Arm a range of at
// least arm_flush_mm_pages pages becomes the whole mm (0, kWholeMm) like arm64's flush_tlb_mm.
// Nothing is called when no entry changed. Notifier calls run on the caller's thread and may wait.
// At exit a notifier with a release callback gets only release() (Linux unhooks it there);
// others get invalidate_range(0, kWholeMm).
//
// Time: state changes take effect at once, then the CPU cost is charged to the caller's thread, so
// a step is complete when the call returns. Deterministic: ordered containers only.
//
// Not modelled: transparent huge pages and hugetlb (4 KiB pages only), file and shared mappings,
// the shared zero page (a read fault maps a private page), COW and fork, swap, reclaim and
// migration, NUMA, mlock, userfaultfd, guard gaps and stack growth, ASLR, brk, the CPU-side TLB
// shootdown and its IPIs (its cost is in `syscall`), mmu_gather batching (one notifier call per
// operation), freeing page tables emptied by munmap (tables go at exit), execute-only and
// write-only PTEs (write implies read, exec-only maps read-only), PKEYs, LAM/TBI.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"

namespace iommusim::host {

struct MmOptions {
  uint64_t mmap_base = 0x7F00'0000'0000ull;  // top of the top-down mmap area
  uint64_t mmap_min_addr = 0x10000;          // Linux's vm.mmap_min_addr default
  // arm64 without FEAT_TLBIRANGE flushes the whole ASID for a range of >= MAX_DVM_OPS (512) pages,
  // and notifies (0, -1); with it, only above 2^21 pages. 0: never widen. x86 passes the range.
  uint64_t arm_flush_mm_pages = 512;
};

class Mm {
 public:
  enum class Format : uint8_t { X86_4, X86_5, ArmV8_48 };
  struct Prot {
    bool read = true, write = true, exec = false;
    friend bool operator==(const Prot&, const Prot&) = default;
  };
  struct Vma {
    uint64_t start, end;  // [start, end)
    Prot prot;
  };
  struct MmapResult {
    uint64_t addr = 0;
    int err = 0;  // 0, -EINVAL, -ENOMEM, -EEXIST (fixed range in use), -EPERM (below mmap_min_addr)
    bool ok() const { return err == 0; }
  };
  struct UnmapResult {
    int err = 0;                  // 0 or -EINVAL
    uint64_t pages = 0;           // resident pages unmapped and freed
    std::vector<uint64_t> freed;  // their physical addresses, in VA order
  };
  struct FaultResult {
    enum class Status : uint8_t { Ok, Invalid };
    enum class Reason : uint8_t { Mapped, Spurious, MmGone, NoVma, Access, NoMemory };
    Status status = Status::Invalid;
    Reason reason = Reason::NoVma;
    uint64_t addr = 0;  // the faulting page
    bool ok() const { return status == Status::Ok; }
  };
  struct Translation {
    uint64_t pa;
    bool write, exec, user;  // present entries are always readable
  };
  using NotifierHandle = uint64_t;
  static constexpr uint64_t kPage = 4096;
  static constexpr uint64_t kWholeMm = ~uint64_t{0};  // invalidate_range end meaning "the whole mm"

  // `cpu` may be null (no time charged: tests, set-up outside threads). Statistics go under
  // `stats_parent` as "mm<id>" when given.
  Mm(PhysMem& mem, PhysAlloc& alloc, Format f, uint64_t id, Cpu* cpu = nullptr, const CpuCosts& cost = {},
     const MmOptions& opt = {}, StatGroup* stats_parent = nullptr);
  // Frees nothing in simulated memory (the allocator may be gone by then): exit() and free_pgd() do.
  ~Mm();
  Mm(const Mm&) = delete;
  Mm& operator=(const Mm&) = delete;

  Format format() const { return format_; }
  unsigned levels() const;
  // Physical address of the root table: CR3's table (x86) or TTB0 (Arm). 0 after free_pgd().
  uint64_t pgd() const { return pgd_; }
  uint64_t id() const { return id_; }
  bool alive() const { return !dead_; }
  // End of the user address range (exclusive).
  uint64_t task_size() const { return task_size_; }

  // Anonymous private mapping of len bytes (rounded up to pages). Without addr: the highest free
  // gap below mmap_base, else the lowest above it. With addr: exactly there, never replacing
  // (MAP_FIXED_NOREPLACE). populate faults every page in (MAP_POPULATE).
  MmapResult mmap(uint64_t len, Prot prot, bool populate = false, std::optional<uint64_t> addr = {});
  // Removes [addr, addr+len) from every VMA it overlaps (splitting them); a hole is not an error.
  UnmapResult munmap(uint64_t addr, uint64_t len);
  // Changes the protection of [addr, addr+len), which must be mapped throughout (else -ENOMEM).
  int mprotect(uint64_t addr, uint64_t len, Prot prot);

  // handle_mm_fault for an access at addr (write/exec; read unless read=false), checked as the SVA
  // fault handler does: every access right asked for must be in the VMA's flags.
  FaultResult fault(uint64_t addr, bool write, bool exec = false, bool read = true);
  // The CPU accessing [addr, addr+len): faults on every page whose PTE does not allow the access.
  // Returns Ok or the first failing page's result (SIGSEGV).
  FaultResult touch(uint64_t addr, uint64_t len, bool write);

  // exit_mmap: releases or notifies every notifier, unmaps everything, frees pages and every table
  // but the root (freed by free_pgd, Linux's mmdrop). Later faults fail with MmGone. Returns the
  // pages freed.
  uint64_t exit();
  void free_pgd();

  NotifierHandle add_notifier(std::function<void(uint64_t start, uint64_t end)> invalidate_range,
                              std::function<void()> release = {});
  bool remove_notifier(NotifierHandle h);

  // Software walk of the tables in memory.
  std::optional<Translation> translate(uint64_t addr) const;
  std::optional<Vma> find_vma(uint64_t addr) const;
  std::vector<Vma> vmas() const;
  uint64_t resident_pages() const { return pages_.size(); }
  uint64_t faults() const { return faults_.v; }
  uint64_t faults_mapped() const { return faults_mapped_.v; }
  uint64_t faults_spurious() const { return faults_spurious_.v; }
  uint64_t faults_invalid() const { return faults_invalid_.v; }
  uint64_t notifier_calls() const { return notifier_calls_.v; }
  StatGroup& stats() { return stats_; }

  struct Tables;  // the format's table editor (mm.cpp)

 private:
  struct Notifier {
    std::function<void(uint64_t, uint64_t)> invalidate;
    std::function<void()> release;
  };
  static bool accessible(const Prot& p) { return p.read || p.write || p.exec; }
  void spend(const sc_core::sc_time& t);
  std::optional<uint64_t> find_gap(uint64_t len) const;
  bool range_free(uint64_t start, uint64_t end) const;
  // Splits the VMA containing addr (if any) so that addr is a VMA boundary.
  void split_at(uint64_t addr);
  // Merges equal-protection neighbours among the VMAs around [lo, hi].
  void merge_range(uint64_t lo, uint64_t hi);
  // Calls every notifier for a change of [start, end), widened as the CPU's TLB flush would.
  void notify(uint64_t start, uint64_t end);
  void invalidate_all(uint64_t start, uint64_t end);

  PhysMem& mem_;
  PhysAlloc& alloc_;
  Format format_;
  uint64_t id_;
  Cpu* cpu_;
  CpuCosts cost_;
  MmOptions opt_;
  uint64_t task_size_;
  std::unique_ptr<Tables> pt_;
  uint64_t pgd_ = 0;
  bool dead_ = false;
  std::map<uint64_t, Vma> vmas_;        // by start
  std::map<uint64_t, uint64_t> pages_;  // resident pages: VA -> PA
  std::map<NotifierHandle, Notifier> notifiers_;
  NotifierHandle next_handle_ = 1;

  StatGroup stats_;
  Counter& faults_;
  Counter& faults_mapped_;
  Counter& faults_spurious_;
  Counter& faults_invalid_;
  Counter& pages_freed_;
  Counter& notifier_calls_;
};

}  // namespace iommusim::host
