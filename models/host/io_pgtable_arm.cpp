// io-pgtable-arm: leaf attributes Linux uses for SMMU mappings, and the shared PhysMem helper.
#include "models/host/io_pgtable_arm.h"

#include <vector>

namespace iommusim::host {

void PhysMem::zero(uint64_t pa, size_t len) {
  static const std::vector<uint8_t> zeros(65536, 0);
  while (len) {
    const size_t n = std::min(len, zeros.size());
    write(pa, zeros.data(), n);
    pa += n;
    len -= n;
  }
}

uint64_t ArmCodec::encode_leaf(uint64_t pa, unsigned l, IoProt prot) const {
  if (stage2_) {
    pgtable::S2Attrs a;
    a.read = prot.read;
    a.write = prot.write;
    a.af = true;
    a.memattr = 0xF;  // normal write-back
    a.sh = 3;
    a.xn = 2;
    return pgtable::encode_s2_leaf(pa, l, g_, a);
  }
  pgtable::S1Attrs a;
  a.ro = !prot.write;
  a.user = !prot.priv;  // Linux maps IOMMU pages with AP[1] (unprivileged) unless IOMMU_PRIV
  a.af = true;
  a.ng = true;
  a.attr_index = 1;
  a.sh = 3;
  a.uxn = a.pxn = true;
  return pgtable::encode_s1_leaf(pa, l, g_, a);
}

}  // namespace iommusim::host
