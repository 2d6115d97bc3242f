// io-pgtable-arm: VMSAv8-64 table construction and teardown by the host.
#include "models/host/io_pgtable_arm.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <stdexcept>
#include <vector>

namespace iommusim::host {
namespace {
std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
  return b;
}
}  // namespace

void PhysMem::zero(uint64_t pa, size_t len) {
  static const std::vector<uint8_t> zeros(65536, 0);
  while (len) {
    const size_t n = std::min(len, zeros.size());
    write(pa, zeros.data(), n);
    pa += n;
    len -= n;
  }
}

IoPgtableArm::IoPgtableArm(PhysMem& mem, PhysAlloc& alloc, pgtable::Granule g, unsigned ias, bool stage2)
    : mem_(mem), alloc_(alloc), g_(pgtable::Geometry::make(g, ias)), stage2_(stage2) {
  for (unsigned l = g_.start_level; l <= g_.last_level; ++l)
    if (l == g_.last_level || g_.block_allowed(l)) pgsizes_ |= g_.entry_span(l);
  Work w;
  root_ = new_table(g_.start_level, w);
}

uint64_t IoPgtableArm::new_table(unsigned level, Work& w) {
  const uint64_t bytes = std::max<uint64_t>(g_.table_bytes(level), 64);
  const uint64_t pa = alloc_.alloc(std::max<uint64_t>(bytes, uint64_t{1} << g_.shift), uint64_t{1} << g_.shift);
  mem_.zero(pa, bytes);
  ++w.tables;
  return pa;
}

IoPgtableArm::Work IoPgtableArm::map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) {
  Work w;
  const uint64_t gran = uint64_t{1} << g_.shift;
  if ((iova | pa | size) & (gran - 1)) throw std::invalid_argument("io-pgtable: map not aligned to the granule");
  if (g_.input_bits < 64 && (iova + size - 1) >> g_.input_bits)
    throw std::invalid_argument("io-pgtable: IOVA beyond the input address size");
  while (size) {
    // Largest supported leaf that the alignment of both addresses and the remaining size allow.
    unsigned level = g_.last_level;
    for (unsigned l = g_.start_level; l <= g_.last_level; ++l) {
      const uint64_t span = g_.entry_span(l);
      if ((pgsizes_ & span) && span <= max_page && span <= size && (iova & (span - 1)) == 0 && (pa & (span - 1)) == 0) {
        level = l;
        break;
      }
    }
    uint64_t table = root_;
    for (unsigned l = g_.start_level; l < level; ++l) {
      const uint64_t slot = table + uint64_t{g_.index(iova, l)} * 8;
      const uint64_t d = mem_.read64(slot);
      const pgtable::Decoded dec = pgtable::decode(d, l, g_, stage2_);
      if (dec.kind == pgtable::Kind::Table) {
        table = dec.addr;
      } else if (dec.kind == pgtable::Kind::Invalid) {
        const uint64_t next = new_table(l + 1, w);
        mem_.write64(slot, pgtable::encode_table(next, g_));
        ++w.ptes;
        table = next;
      } else {
        throw std::invalid_argument("io-pgtable: IOVA already mapped by a block");
      }
    }
    const uint64_t slot = table + uint64_t{g_.index(iova, level)} * 8;
    const uint64_t old = mem_.read64(slot);
    if (old & pgtable::desc::VALID) {
      const pgtable::Decoded od = pgtable::decode(old, level, g_, stage2_);
      if (od.kind != pgtable::Kind::Table || !table_empty(od.addr, level + 1))
        throw std::invalid_argument("io-pgtable: IOVA " + hex(iova) + " already mapped at level " + std::to_string(level));
      free_table(od.addr, level + 1, w);
    }
    uint64_t leaf;
    if (stage2_) {
      pgtable::S2Attrs a;
      a.read = prot.read;
      a.write = prot.write;
      a.af = true;
      a.memattr = 0xF;
      a.sh = 3;
      a.xn = 2;
      leaf = pgtable::encode_s2_leaf(pa, level, g_, a);
    } else {
      pgtable::S1Attrs a;
      a.ro = !prot.write;
      a.user = !prot.priv;  // Linux maps IOMMU pages with AP[1] (unprivileged) unless IOMMU_PRIV
      a.af = true;
      a.ng = true;
      a.attr_index = 1;
      a.sh = 3;
      a.uxn = a.pxn = true;
      leaf = pgtable::encode_s1_leaf(pa, level, g_, a);
    }
    mem_.write64(slot, leaf);
    ++w.ptes;
    const uint64_t span = g_.entry_span(level);
    iova += span;
    pa += span;
    size -= span;
  }
  return w;
}

bool IoPgtableArm::table_empty(uint64_t table, unsigned level) {
  for (unsigned i = 0; i < g_.entries(level); ++i) {
    const pgtable::Decoded d = pgtable::decode(mem_.read64(table + uint64_t{i} * 8), level, g_, stage2_);
    if (d.kind == pgtable::Kind::Invalid) continue;
    if (d.kind != pgtable::Kind::Table || !table_empty(d.addr, level + 1)) return false;
  }
  return true;
}

void IoPgtableArm::free_table(uint64_t table, unsigned level, Work& w) {
  for (unsigned i = 0; i < g_.entries(level); ++i) {
    const pgtable::Decoded d = pgtable::decode(mem_.read64(table + uint64_t{i} * 8), level, g_, stage2_);
    if (d.kind == pgtable::Kind::Table) free_table(d.addr, level + 1, w);
  }
  alloc_.free(table, std::max<uint64_t>(std::max<uint64_t>(g_.table_bytes(level), 64), uint64_t{1} << g_.shift));
  ++w.tables_freed;
}

IoPgtableArm::Work IoPgtableArm::unmap(uint64_t iova, uint64_t size, uint64_t& leaf_size) {
  Work w;
  leaf_size = 0;
  while (size) {
    uint64_t table = root_;
    unsigned l = g_.start_level;
    for (;; ++l) {
      const uint64_t slot = table + uint64_t{g_.index(iova, l)} * 8;
      const pgtable::Decoded dec = pgtable::decode(mem_.read64(slot), l, g_, stage2_);
      if (dec.kind == pgtable::Kind::Table) {
        table = dec.addr;
        continue;
      }
      if (dec.kind == pgtable::Kind::Invalid) throw std::invalid_argument("io-pgtable: unmap of an unmapped IOVA");
      const uint64_t span = g_.entry_span(l);
      if ((iova & (span - 1)) || span > size) throw std::invalid_argument("io-pgtable: unmap splits a block");
      mem_.write64(slot, 0);
      ++w.ptes;
      leaf_size = std::max(leaf_size, span);
      iova += span;
      size -= span;
      break;
    }
  }
  return w;
}

std::optional<uint64_t> IoPgtableArm::iova_to_phys(uint64_t iova) {
  uint64_t table = root_;
  for (unsigned l = g_.start_level; l <= g_.last_level; ++l) {
    const pgtable::Decoded dec = pgtable::decode(mem_.read64(table + uint64_t{g_.index(iova, l)} * 8), l, g_, stage2_);
    if (dec.kind == pgtable::Kind::Invalid) return std::nullopt;
    if (dec.kind == pgtable::Kind::Table) {
      table = dec.addr;
      continue;
    }
    return pgtable::output_address(dec, iova);
  }
  return std::nullopt;
}

}  // namespace iommusim::host
