// The host's iommufd (Linux drivers/iommu/iommufd, R6): an object table of IOASes (IOVA spaces
// userspace maps into) and HWPTs (IOMMU domains from a device's driver, each linked to one IOAS at
// allocation and filled with every mapping it holds), and the devices bound to it (attach, auto
// domains, replace, detach). Maps and unmaps are propagated to the page tables of every linked
// domain with the domain's real invalidation (IommuDomain map / unmap / flush_range), charging the
// host CPU the same per-step costs as the DMA API.
//
// MSI (R4.3, policy `iommufd_sw_msi`): one context-global list of doorbell pages, page n at IOVA
// sw_msi_start + n * PAGE_SIZE (n < 64), installed into the HWPT a device with a software MSI window
// is attached to, on attach and on replace, and by get_msi_iova into the device's current HWPT.
//
// Every operation returns 0 or a negative errno; a failure's reason is logged (info) and kept in
// last_error(). Call from a SystemC thread (driver attach and invalidation wait on the IOMMU).
//
// Not modelled: page pinning and page permissions (so no EPERM for a writable map of read-only
// pages), multi-device groups, nested / PASID HWPTs, fault objects (R6.4's INVALID answers to
// pending faults on replace), IOAS copy, dirty tracking, object destroy. A detached device goes to a
// blocking domain (iommufd holds DMA ownership, so Linux attaches the group's blocking domain); the
// model's blocking domain is an empty paging domain of the device's driver, so DMA faults.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <spdlog/logger.h>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/iommu_driver.h"
#include "models/host/iommufd_ioas.h"

namespace iommusim::host {

// What iommufd needs of a bound device (iommufd_device_bind).
struct IommufdDevice {
  std::string name;
  PciDevice* pci = nullptr;
  IommuDriver* drv = nullptr;
};

class Iommufd {
 public:
  static constexpr uint64_t kPageSize = 4096;  // the host's PAGE_SIZE
  static constexpr unsigned kMaxSwMsi = 64;    // doorbell pages per context (one bitmap word per HWPT)
  static constexpr uint64_t kUnmapAll = UINT64_MAX;  // ioas_unmap(ioas, 0, kUnmapAll): everything

  Iommufd(Cpu& cpu, const HostParams& p, StatGroup& parent, const std::string& log_module);
  ~Iommufd();
  Iommufd(const Iommufd&) = delete;
  Iommufd& operator=(const Iommufd&) = delete;

  // Binds a device; returns its index for the calls below.
  unsigned add_device(const IommufdDevice& d);
  size_t device_count() const { return devs_.size(); }

  int ioas_alloc(uint32_t& id);
  // IOMMU_IOAS_ALLOW_IOVAS: allocation stays inside `ranges` (empty: anywhere); -EADDRINUSE if
  // one intersects a reserved range; later reservations intersecting them fail (attach refused).
  int ioas_allow_iovas(uint32_t ioas, const std::vector<IovaRange>& ranges);
  // IOMMU_IOAS_MAP of [pa, pa+length): at `iova` if fixed, else at an IOVA allocated from the
  // allowed ranges (returned in iova). R6.5: -EINVAL (misaligned, no permission, a reserved range
  // in the way), -EEXIST, -EOVERFLOW, -ENOSPC, -ENOENT (no such IOAS).
  int ioas_map(uint32_t ioas, uint64_t pa, uint64_t length, IoProt prot, uint64_t& iova, bool fixed);
  // IOMMU_IOAS_UNMAP: every area inside [iova, iova+length); -ENOENT if an area is only partly
  // inside (areas before it are already unmapped, as Linux) or nothing is mapped there.
  // (0, kUnmapAll) unmaps everything and succeeds on an empty IOAS.
  int ioas_unmap(uint32_t ioas, uint64_t iova, uint64_t length, uint64_t* unmapped = nullptr);
  // IOMMU_HWPT_ALLOC: a paging domain of dev's IOMMU driver, linked to ioas and filled with its
  // mappings at once (R6.1): -EINVAL if its smallest page is larger than PAGE_SIZE, -EADDRINUSE if
  // a mapping is misaligned for it or outside its aperture [0, 2^ias_bits). Nothing is left behind.
  int hwpt_alloc(unsigned dev, uint32_t ioas, uint32_t& id);
  // The same for a domain made elsewhere (another driver's, or a test's).
  int hwpt_alloc_domain(std::unique_ptr<IommuDomain> d, uint32_t ioas, uint32_t& id);
  // IOMMU attach of dev to pt (an HWPT, or an IOAS: auto domain, R6.3). R6.2: the device's
  // reserved regions go into the IOAS (-EADDRINUSE over a mapping or an allowed range, -EINVAL for
  // SW and HW MSI together or two SW MSI windows), MSI pages are installed, then the driver attaches
  // (R7: -EINVAL if it cannot use the domain). -EINVAL if already attached. *hwpt: the HWPT used.
  int attach(unsigned dev, uint32_t pt, uint32_t* hwpt = nullptr);
  // R6.4: -EINVAL if not attached; reserved regions re-enforced only when the IOAS changes.
  int replace(unsigned dev, uint32_t pt, uint32_t* hwpt = nullptr);
  // Drops the device's reserved regions and moves it to its blocking domain. An auto-domain HWPT
  // left without devices is destroyed. -EINVAL if not attached.
  int detach(unsigned dev);
  // iommufd_sw_msi: the IOVA the device's MSI writes must target to reach `doorbell_pa`. With a
  // software MSI window: the context's slot for the doorbell page (allocated on first use,
  // -EOVERFLOW beyond 64 pages), installed into the device's HWPT. Without one (x86): the doorbell
  // address itself. -EINVAL if the device is not attached.
  int get_msi_iova(unsigned dev, uint64_t doorbell_pa, uint64_t& iova);

  // Inspection.
  bool is_ioas(uint32_t id) const { return ioas_.count(id) != 0; }
  bool is_hwpt(uint32_t id) const { return hwpts_.count(id) != 0; }
  const IoasTable* ioas_table(uint32_t ioas) const;
  IommuDomain* hwpt_domain(uint32_t hwpt) const;
  std::optional<uint32_t> hwpt_ioas(uint32_t hwpt) const;
  std::vector<uint32_t> ioas_hwpts(uint32_t ioas) const;
  std::optional<uint32_t> device_hwpt(unsigned dev) const;
  // Doorbell pages installed in an HWPT (bit n: slot n).
  uint64_t hwpt_msi_bitmap(uint32_t hwpt) const;
  const std::string& last_error() const { return why_; }

 private:
  struct Ioas {
    IoasTable t;
    std::vector<uint32_t> hwpts;  // linked domains, in link order
  };
  struct Hwpt {
    uint32_t ioas = 0;
    std::unique_ptr<IommuDomain> dom;
    bool auto_domain = false;
    uint64_t present_sw_msi = 0;
    std::vector<unsigned> devs;
  };
  struct Dev {
    IommufdDevice d;
    uint32_t hwpt = 0;  // 0: not attached
    std::optional<uint64_t> sw_msi_start;
    std::unique_ptr<IommuDomain> blocking;
  };
  struct SwMsi {
    uint64_t pa, sw_msi_start;
    unsigned id;
  };
  struct Resv {
    std::vector<ResvRegion> regions;
    std::optional<uint64_t> sw_msi_start;
  };

  int fail(int err, const std::string& why);  // records, logs, returns err (negative)
  void syscall();
  Ioas* find_ioas(uint32_t id);
  Hwpt* find_hwpt(uint32_t id);
  uint32_t new_hwpt(std::unique_ptr<IommuDomain> d, bool auto_domain);
  int link(uint32_t hwpt, uint32_t ioas);  // iopt_table_add_domain
  void destroy_hwpt(uint32_t hwpt);        // unlink, unmap, free
  void dom_map(Hwpt& h, uint64_t iova, uint64_t pa, uint64_t len, IoProt prot, uint64_t max_page);
  void dom_unmap(Hwpt& h, uint64_t iova, uint64_t len);
  int device_resv(Dev& d, Resv& out);
  int enforce_resv(unsigned dev, Ioas& io, Resv& out);
  void setup_msi(const Dev& d, Hwpt& h);
  int install_msi(Hwpt& h, const SwMsi& m);
  int do_attach(unsigned dev, uint32_t hwpt);
  int do_replace(unsigned dev, uint32_t hwpt);
  int auto_domain(unsigned dev, uint32_t ioas, bool replace, uint32_t* out);
  void to_blocking(Dev& d);
  void release(unsigned dev, Hwpt& h);  // drop dev from h, and h if an empty auto domain
  int bad_dev(unsigned dev);

  Cpu& cpu_;
  const HostParams& p_;
  StatGroup stats_;
  std::shared_ptr<spdlog::logger> log_;
  uint32_t next_id_ = 1;  // object ids start at 1, as Linux's xarray
  std::map<uint32_t, Ioas> ioas_;
  std::map<uint32_t, Hwpt> hwpts_;
  std::vector<Dev> devs_;
  std::vector<SwMsi> sw_msi_;
  unsigned quiet_ = 0;  // >0 while auto-domain attach tries candidates: their EINVAL is not a failure
  const char* op_ = "";
  std::string why_;
  Counter& ioctls_;
  Counter& errors_;
  Counter& maps_;
  Counter& unmaps_;
  Counter& hwpts_linked_;
  Counter& attaches_;
  Counter& replaces_;
  Counter& detaches_;
  Counter& msi_installs_;
};

}  // namespace iommusim::host
