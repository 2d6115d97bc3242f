// Unit tests of the VT-d format definitions against hand-encoded words from the architecture (rev 4.x).
#include "models/iommu/vtd/vtd_defs.h"

#include <gtest/gtest.h>

using namespace iommusim::vtd;

namespace {
Desc words(uint64_t w0, uint64_t w1) {
    Desc d;
    d.qw[0] = w0;
    d.qw[1] = w1;
    return d;
}
}  // namespace

// ---- registers ----------------------------------------------------------------------------------

TEST(VtdRegs, Offsets) {
    EXPECT_EQ(reg::CAP, 0x08u);
    EXPECT_EQ(reg::GSTS, 0x1Cu);
    EXPECT_EQ(reg::RTADDR, 0x20u);
    EXPECT_EQ(reg::FSTS, 0x34u);
    EXPECT_EQ(reg::IQT, 0x88u);
    EXPECT_EQ(reg::IQA, 0x90u);
    EXPECT_EQ(reg::ICS, 0x9Cu);
    EXPECT_EQ(reg::IQERCD, 0xB0u);
    EXPECT_EQ(reg::IRTA, 0xB8u);
    EXPECT_EQ(reg::PQA, 0xD0u);
    EXPECT_EQ(reg::PRS, 0xDCu);
    EXPECT_EQ(reg::PEUADDR, 0xECu);
    EXPECT_TRUE(reg::is_64bit(reg::IQA));
    EXPECT_TRUE(reg::is_64bit(reg::RTADDR));
    EXPECT_FALSE(reg::is_64bit(reg::GSTS));
    EXPECT_FALSE(reg::is_64bit(reg::FEDATA));
}

TEST(VtdRegs, CapFields) {
    // ND 6 | SAGAW 4-level (bit 2) | MGAW 47 | FRO 0x22 | SLLPS 2M+1G | PSI | NFR 7 | MAMV 18 | FL1GP | FL5LP
    const uint64_t c = 0x1112078C222F0406ull;
    EXPECT_EQ(cap::ND.get(c), 6u);
    EXPECT_EQ(cap_num_domains_log2(c), 16u);
    EXPECT_EQ(cap::SAGAW.get(c), 0x4u);
    EXPECT_TRUE(cap_sagaw_supports(c, 2));
    EXPECT_FALSE(cap_sagaw_supports(c, 3));
    EXPECT_EQ(cap_mgaw_bits(c), 48u);
    EXPECT_EQ(cap::FRO.get(c), 0x22u);
    EXPECT_EQ(fault_record_offset(c, 0), 0x220u);
    EXPECT_EQ(fault_record_offset(c, 3), 0x250u);
    EXPECT_EQ(cap::SLLPS.get(c), 3u);
    EXPECT_TRUE(c & cap::PSI);
    EXPECT_EQ(cap_num_fault_regs(c), 8u);
    EXPECT_EQ(cap::MAMV.get(c), 18u);
    EXPECT_TRUE(c & cap::FL1GP);
    EXPECT_TRUE(c & cap::FL5LP);
    EXPECT_FALSE(c & (cap::CM | cap::ZLR | cap::RWBF | cap::PI | cap::ESRTPS));
    const uint64_t built = cap::ND.make(6) | cap::SAGAW.make(1u << 2) | cap::MGAW.make(47) | cap::FRO.make(0x22) |
                           cap::SLLPS.make(3) | cap::PSI | cap::NFR.make(7) | cap::MAMV.make(18) | cap::FL1GP |
                           cap::FL5LP;
    EXPECT_EQ(built, c);
}

TEST(VtdRegs, EcapFields) {
    // C QI DT IR EIM PT SC | IRO 0x50 | MHMV 15 | NEST | PRS | PSS 19 | PASID | SMTS | SSTS | FSTS
    const uint64_t e = 0x0000C99824F050DFull;
    EXPECT_EQ(ecap::IRO.get(e), 0x50u);
    EXPECT_EQ(iva_reg_offset(e), 0x500u);
    EXPECT_EQ(iotlb_reg_offset(e), 0x508u);
    EXPECT_EQ(ecap::MHMV.get(e), 15u);
    EXPECT_EQ(ecap_pasid_bits(e), 20u);
    EXPECT_TRUE(e & ecap::QI && e & ecap::DT && e & ecap::IR && e & ecap::EIM && e & ecap::PT && e & ecap::SC);
    EXPECT_TRUE(e & ecap::NEST && e & ecap::PRS && e & ecap::PASID && e & ecap::SMTS);
    EXPECT_TRUE((e & ecap::SLTS) && (e & ecap::FLTS));
    EXPECT_FALSE(e & (ecap::SSADS | ecap::PDS | ecap::ERS | ecap::SRS | ecap::RPS));
}

TEST(VtdRegs, CommandAndStatusBits) {
    EXPECT_EQ(gcmd::TE, 0x80000000u);
    EXPECT_EQ(gcmd::SRTP, 0x40000000u);
    EXPECT_EQ(gcmd::QIE, 0x04000000u);
    EXPECT_EQ(gcmd::IRE, 0x02000000u);
    EXPECT_EQ(gcmd::SIRTP, 0x01000000u);
    EXPECT_EQ(gcmd::CFI, 0x00800000u);
    EXPECT_EQ(gsts::TES | gsts::RTPS | gsts::QIES, 0xC4000000u);
    EXPECT_EQ(gcmd::ONE_SHOT, 0x69000000u);
    // RTADDR: scalable mode, root table 0x12345000.
    EXPECT_EQ(rtaddr::TTM.make(rtaddr::TTM_SCALABLE) | 0x12345000ull, 0x12345400ull);
    EXPECT_EQ(rtaddr::TTM.get(0x12345C00ull), rtaddr::TTM_ABORT_DMA);
    // CCMD: ICC | CIRG device | FM 3 | SID 0x0100 | DID 0x2A
    EXPECT_EQ(ccmd::ICC | ccmd::CIRG.make(gran::DEVICE) | ccmd::FM.make(3) | ccmd::SID.make(0x100) |
                  ccmd::DID.make(0x2A),
              0xE00000030100002Aull);
    // IOTLB_REG: IVT | IIRG page | DR | DW | DID 7
    EXPECT_EQ(iotlb_reg::IVT | iotlb_reg::IIRG.make(gran::PAGE) | iotlb_reg::DR | iotlb_reg::DW |
                  iotlb_reg::DID.make(7),
              0xB003000700000000ull);
    EXPECT_EQ(iotlb_reg::IAIG.get(0x0400000000000000ull), 2u);
    EXPECT_EQ(fsts::FRI.get(0x00000502u), 5u);
    EXPECT_EQ(fsts::RW1C, 0x7Du);
    EXPECT_EQ(ectl::IM | ectl::IP, 0xC0000000u);
    EXPECT_EQ(iqercd::ICESID.get(0x0218000000000000ull), 0x218u);
    EXPECT_EQ(iqercd::ITESID.get(0x0000030800000000ull), 0x308u);
    EXPECT_EQ(iqercd::IQEI.get(0x6u), iqercd::TAIL_MISALIGNED);
    // IRTA: table 0x7000_0000, EIME, 2^(7+1) entries.
    const uint64_t irta_v = 0x70000000ull | irta::EIME | irta::S.make(7);
    EXPECT_EQ(irta_v, 0x70000807ull);
    EXPECT_EQ(irta_entries(irta_v), 256u);
    EXPECT_EQ(irta_entries(0xFull), 65536u);
}

TEST(VtdRegs, AddressWidths) {
    EXPECT_EQ(aw_bits(1), 39u);
    EXPECT_EQ(aw_bits(2), 48u);
    EXPECT_EQ(aw_bits(3), 57u);
    EXPECT_EQ(aw_levels(2), 4u);
    EXPECT_EQ(aw_for_levels(5), 3u);
}

// ---- queues -------------------------------------------------------------------------------------

TEST(VtdQueue, InvalidationQueueGeometry) {
    EXPECT_EQ(iq_entries(0, DescWidth::W128), 256u);
    EXPECT_EQ(iq_entries(0, DescWidth::W256), 128u);
    EXPECT_EQ(iq_entries(7, DescWidth::W128), 32768u);
    EXPECT_EQ(iq_entries(7, DescWidth::W256), 16384u);
    EXPECT_EQ(iqa::QS.get(0x12345803ull), 3u);
    EXPECT_TRUE(0x12345803ull & iqa::DW);
    EXPECT_EQ(0x12345803ull & iqa::ADDR_MASK, 0x12345000ull);
    EXPECT_EQ(iq_index(0x1230, DescWidth::W128), 0x123u);
    EXPECT_EQ(iq_index(0x1240, DescWidth::W256), 0x92u);
    EXPECT_EQ(iq_index(0xFFFFFFFFFFF81230ull, DescWidth::W128), 0x123u);  // bits outside [18:4] ignored
    EXPECT_EQ(iq_reg(0x92, DescWidth::W256), 0x1240ull);
    EXPECT_EQ(iq_reg(0x7FFF, DescWidth::W128), 0x7FFF0ull);
    EXPECT_TRUE(iq_tail_aligned(0x1230, DescWidth::W128));
    EXPECT_FALSE(iq_tail_aligned(0x1230, DescWidth::W256));
    EXPECT_TRUE(iq_tail_aligned(0x1220, DescWidth::W256));
    EXPECT_EQ(desc_bytes(DescWidth::W256), 32u);
}

TEST(VtdQueue, RingArithmeticAndPrq) {
    EXPECT_TRUE(ring_empty(5, 5));
    EXPECT_FALSE(ring_full(5, 5, 8));
    EXPECT_TRUE(ring_full(0, 7, 8));
    EXPECT_TRUE(ring_full(3, 2, 8));
    EXPECT_EQ(ring_next(7, 8), 0u);
    EXPECT_EQ(ring_count(6, 1, 8), 3u);
    EXPECT_EQ(ring_count(1, 6, 8), 5u);
    EXPECT_EQ(prq_entries(0), 128u);
    EXPECT_EQ(prq_entries(4), 2048u);
    EXPECT_EQ(prq_index(0x40), 2u);
    EXPECT_EQ(prq_index(0x7FFE0), 0x3FFFu);
    EXPECT_EQ(prq_reg(3), 0x60ull);
    EXPECT_EQ(pqa::PQS.get(0xABC002ull), 2u);
}

// ---- root and context entries -------------------------------------------------------------------

TEST(VtdEntries, RootEntries) {
    uint64_t w[2];
    encode(RootEntry{true, 0x12345000ull}, w);
    EXPECT_EQ(w[0], 0x12345001ull);
    EXPECT_EQ(w[1], 0ull);
    const uint64_t hw[2] = {0xFFFF00000ABCDFFFull, 0};
    const RootEntry r = decode_root(hw);
    EXPECT_TRUE(r.present);
    EXPECT_EQ(r.ctp, 0xFFFF00000ABCD000ull);

    const SmRootEntry s{true, 0x1000ull, true, 0x2000ull};
    encode(s, w);
    EXPECT_EQ(w[0], 0x1001ull);
    EXPECT_EQ(w[1], 0x2001ull);
    EXPECT_EQ(decode_sm_root(w), s);
    const uint64_t upper_only[2] = {0x3000ull, 0x4001ull};
    const SmRootEntry u = decode_sm_root(upper_only);
    EXPECT_FALSE(u.lower_present);
    EXPECT_TRUE(u.upper_present);
    EXPECT_EQ(u.upper_ctp, 0x4000ull);
    EXPECT_FALSE(sm_context_upper(0x7F));
    EXPECT_TRUE(sm_context_upper(0x80));
    EXPECT_EQ(sm_context_offset(0x81), 32u);
    EXPECT_EQ(legacy_context_offset(0x81), 0x810u);
}

TEST(VtdEntries, LegacyContextEntry) {
    ContextEntry c;
    c.present = true;
    c.fpd = true;
    c.tt = tt::ALL;
    c.slptptr = 0xABCDE000ull;
    c.aw = 2;
    c.did = 0x42;
    uint64_t w[2];
    encode(c, w);
    EXPECT_EQ(w[0], 0xABCDE007ull);  // P | FPD | TT 1 << 2
    EXPECT_EQ(w[1], 0x4202ull);      // AW 2 | DID 0x42 << 8
    EXPECT_EQ(decode_context(w), c);
    const uint64_t pt[2] = {0x9ull, 0xFFFF03ull};  // P | TT pass-through; AW 3, DID 0xFFFF
    const ContextEntry p = decode_context(pt);
    EXPECT_EQ(p.tt, tt::PASS_THROUGH);
    EXPECT_EQ(p.aw, 3);
    EXPECT_EQ(p.did, 0xFFFF);
    EXPECT_FALSE(p.fpd);
}

TEST(VtdEntries, ScalableContextEntry) {
    SmContextEntry c;
    c.present = true;
    c.dte = true;
    c.paside = true;
    c.pre = true;
    c.pdts = 3;
    c.pasid_dir_ptr = 0x76543000ull;
    c.rid_pasid = 0xABC;
    c.rid_priv = true;
    uint64_t w[4];
    encode(c, w);
    EXPECT_EQ(w[0], 0x7654361Dull);  // P | DTE | PASIDE | PRE | PDTS 3 << 9
    EXPECT_EQ(w[1], 0x100ABCull);    // RID_PASID | RID_PRIV bit 84
    EXPECT_EQ(w[2], 0ull);
    EXPECT_EQ(w[3], 0ull);
    EXPECT_EQ(decode_sm_context(w), c);
    EXPECT_EQ(pasid_dir_entries(3), 1024u);
    EXPECT_EQ(pasid_dir_entries(7), 16384u);
    const uint64_t fpd_only[4] = {0x3ull, 0xFFFFFull, 0, 0};
    const SmContextEntry f = decode_sm_context(fpd_only);
    EXPECT_TRUE(f.present && f.fpd);
    EXPECT_FALSE(f.dte || f.paside || f.pre || f.rid_priv);
    EXPECT_EQ(f.rid_pasid, 0xFFFFFu);
}

TEST(VtdEntries, PasidDirectory) {
    EXPECT_EQ(encode(PasidDirEntry{true, false, 0x55555000ull}), 0x55555001ull);
    EXPECT_EQ(encode(PasidDirEntry{true, true, 0x55555000ull}), 0x55555003ull);
    const PasidDirEntry d = decode_pasid_dir(0x0000000123456FFDull);
    EXPECT_TRUE(d.present);
    EXPECT_FALSE(d.fpd);
    EXPECT_EQ(d.table, 0x123456000ull);
    EXPECT_EQ(pasid_dir_index(0x12345), 0x48Du);
    EXPECT_EQ(pasid_table_index(0x12345), 0x05u);
}

TEST(VtdEntries, PasidEntrySecondStage) {
    PasidEntry p;
    p.present = true;
    p.aw = 2;
    p.pgtt = pgtt::SECOND_STAGE;
    p.ssptptr = 0x123456000ull;
    p.did = 0x10;
    p.pwsnp = true;
    p.pgsnp = true;
    uint64_t w[8];
    encode(p, w);
    EXPECT_EQ(w[0], 0x0000000123456089ull);  // P | AW 2 << 2 | PGTT 2 << 6
    EXPECT_EQ(w[1], 0x0000000001800010ull);  // DID | PWSNP bit 23 | PGSNP bit 24
    for (int i = 2; i < 8; ++i) EXPECT_EQ(w[i], 0ull) << i;
    EXPECT_EQ(decode_pasid_entry(w), p);
}

TEST(VtdEntries, PasidEntryFirstStage) {
    PasidEntry p;
    p.present = true;
    p.fpd = true;
    p.pgtt = pgtt::FIRST_STAGE;
    p.did = 0xFFFE;
    p.sre = true;
    p.flpm = flpm::LEVEL5;
    p.fsptptr = 0xAAAA000ull;
    uint64_t w[8];
    encode(p, w);
    EXPECT_EQ(w[0], 0x43ull);           // P | FPD | PGTT 1 << 6
    EXPECT_EQ(w[1], 0xFFFEull);
    EXPECT_EQ(w[2], 0x000000000AAAA005ull);  // SRE | FLPM 1 << 2
    EXPECT_EQ(decode_pasid_entry(w), p);
    EXPECT_EQ(flpm_levels(p.flpm), 5u);
    // Hand-written nested entry with every other qword-0/1/2 flag.
    const uint64_t n[8] = {0x00000000000012E5ull,  // P | AW 1 | SSEE | PGTT 3 | SSADE | SSPTPTR 0x1000
                           0x0606060676000001ull,  // DID 1 | CD | EMTE | EMT 6 | PWT | PAT 0x06060606
                           0x00000000000020F2ull,  // ERE | WPE | NXE | SMEP | EAFE | FSPTPTR 0x2000
                           0, 0, 0, 0, 0};
    const PasidEntry q = decode_pasid_entry(n);
    EXPECT_EQ(q.aw, 1);
    EXPECT_TRUE(q.ssee && q.ssade);
    EXPECT_EQ(q.pgtt, pgtt::NESTED);
    EXPECT_EQ(q.ssptptr, 0x1000ull);
    EXPECT_EQ(q.did, 1);
    EXPECT_TRUE(q.cd && q.emte && q.pwt);
    EXPECT_FALSE(q.pcd || q.pwsnp || q.pgsnp);
    EXPECT_EQ(q.emt, 6);
    EXPECT_EQ(q.pat, 0x06060606u);
    EXPECT_TRUE(q.ere && q.wpe && q.nxe && q.smep && q.eafe);
    EXPECT_FALSE(q.sre);
    EXPECT_EQ(q.flpm, flpm::LEVEL4);
    EXPECT_EQ(q.fsptptr, 0x2000ull);
    EXPECT_TRUE(pgtt_valid(4));
    EXPECT_FALSE(pgtt_valid(0));
    EXPECT_FALSE(pgtt_valid(5));
}

// ---- invalidation descriptors -------------------------------------------------------------------

TEST(VtdDesc, TypeField) {
    EXPECT_EQ(desc_type(0x0000000000000015ull), dtype::WAIT);
    EXPECT_EQ(desc_type(0x0000000000000203ull), 0x13);  // type[6:4] in bits [11:9]
    EXPECT_EQ(desc_type_bits(0x13), 0x203ull);
    EXPECT_TRUE(valid_desc_type(dtype::PAGE_GROUP_RESP));
    EXPECT_FALSE(valid_desc_type(0));
    EXPECT_FALSE(valid_desc_type(0xA));
    EXPECT_STREQ(desc_type_name(dtype::IOTLB), "iotlb_inv");
}

TEST(VtdDesc, ContextCache) {
    EXPECT_EQ(encode(ContextCacheInv{gran::GLOBAL, 0, 0, 0}), words(0x11, 0));
    EXPECT_EQ(encode(ContextCacheInv{gran::DOMAIN, 5, 0, 0}), words(0x50021, 0));
    const ContextCacheInv dev{gran::DEVICE, 5, 0x0100, 2};
    const Desc d = encode(dev);
    EXPECT_EQ(d, words(0x0002010000050031ull, 0));  // FM 2 << 48 | SID << 32 | DID << 16 | G 3 << 4 | 1
    EXPECT_EQ(decode_context_cache_inv(d), dev);
}

TEST(VtdDesc, Iotlb) {
    IotlbInv c;
    c.g = gran::PAGE;
    c.dw = true;
    c.dr = true;
    c.did = 0x1234;
    c.am = 9;
    c.ih = true;
    c.addr = 0x7F000000ull;
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0x00000000123400F2ull, 0x000000007F000049ull));
    EXPECT_EQ(decode_iotlb_inv(d), c);
    const IotlbInv dom = decode_iotlb_inv(words(0x0000000000070022ull, 0));
    EXPECT_EQ(dom.g, gran::DOMAIN);
    EXPECT_EQ(dom.did, 7);
    EXPECT_FALSE(dom.dw || dom.dr);
}

TEST(VtdDesc, DeviceTlb) {
    DevTlbInv c;
    c.pfsid = 0xABCD;
    c.mip = 8;
    c.sid = 0x0308;
    const DevTlbAddr a = devtlb_encode(0x10000ull, 2);  // 16 KiB
    c.s = a.s;
    c.addr = a.addr;
    const Desc d = encode(c);
    // PFSID[15:4] << 52 | SID << 32 | MIP << 16 | PFSID[3:0] << 12 | 3; qw1 ADDR with bit 12 set | S
    EXPECT_EQ(d, words(0xABC003080008D003ull, 0x0000000000011001ull));
    EXPECT_EQ(decode_dev_tlb_inv(d), c);
}

TEST(VtdDesc, InterruptEntryCache) {
    EXPECT_EQ(encode(IecInv{}), words(0x4, 0));
    const IecInv c{true, 3, 0x20};
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0x0000002018000014ull, 0));
    EXPECT_EQ(decode_iec_inv(d), c);
}

TEST(VtdDesc, Wait) {
    WaitDesc c;
    c.intr = true;
    c.sw = true;
    c.fn = true;
    c.status_data = 0xCAFEBABE;
    c.status_addr = 0x12345678ull;
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0xCAFEBABE00000075ull, 0x0000000012345678ull));
    EXPECT_EQ(decode_wait(d), c);
    const WaitDesc pd = decode_wait(words(0x00000001000000A5ull, 0x1003ull));
    EXPECT_TRUE(pd.pd && pd.sw);
    EXPECT_FALSE(pd.intr || pd.fn);
    EXPECT_EQ(pd.status_data, 1u);
    EXPECT_EQ(pd.status_addr, 0x1000ull);  // bits 1:0 are not address
}

TEST(VtdDesc, PasidIotlb) {
    PasidIotlbInv c;
    c.g = pgran::PASID_PAGE;
    c.did = 7;
    c.pasid = 0x12345;
    c.am = 4;
    c.addr = 0x00007F1234560000ull;
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0x0001234500070036ull, 0x00007F1234560004ull));
    EXPECT_EQ(decode_pasid_iotlb_inv(d), c);
    const PasidIotlbInv all = decode_pasid_iotlb_inv(words(0x0000000100020026ull, 0));
    EXPECT_EQ(all.g, pgran::PASID_ALL);
    EXPECT_EQ(all.did, 2);
    EXPECT_EQ(all.pasid, 1u);
}

TEST(VtdDesc, PasidCache) {
    const PasidCacheInv c{pcgran::PASID, 3, 0xFFFFF};
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0x000FFFFF00030017ull, 0));
    EXPECT_EQ(decode_pasid_cache_inv(d), c);
    EXPECT_EQ(encode(PasidCacheInv{pcgran::GLOBAL, 0, 0}), words(0x37, 0));
}

TEST(VtdDesc, PasidDeviceTlb) {
    PasidDevTlbInv c;
    c.mip = 0x10;
    c.pfsid = 0x0012;
    c.sid = 0x0500;
    c.pasid = 1;
    c.global = true;
    const DevTlbAddr a = devtlb_encode(0x200000ull, 9);  // 2 MiB
    c.s = a.s;
    c.addr = a.addr;
    const Desc d = encode(c);
    EXPECT_EQ(d, words(0x0010000105002108ull, 0x00000000002FF801ull));
    EXPECT_EQ(decode_pasid_dev_tlb_inv(d), c);
}

TEST(VtdDesc, PageGroupResponse) {
    PageGroupResp r;
    r.pasid_present = true;
    r.rc = prg_rc::FAILURE;
    r.rid = 0x0300;
    r.pasid = 0x42;
    r.lpig = true;
    r.prgi = 0x1FF;
    const Desc d = encode(r);
    EXPECT_EQ(d, words(0x000000420300F019ull, 0x0000000000000FFCull));
    EXPECT_EQ(decode_page_group_resp(d), r);
}

// ---- ranges -------------------------------------------------------------------------------------

TEST(VtdRanges, AddressMask) {
    EXPECT_EQ(am_range(0x12345000ull, 0), (AddrRange{0x12345000ull, 0x12345FFFull}));
    EXPECT_EQ(am_range(0x12345000ull, 4), (AddrRange{0x12340000ull, 0x1234FFFFull}));
    EXPECT_EQ(am_range(0x12345678ull, 9), (AddrRange{0x12200000ull, 0x123FFFFFull}));
    EXPECT_EQ(am_range(0xFFFF000000000000ull, 52), (AddrRange{0, ~0ull}));
    EXPECT_EQ(am_covering(0x12345000ull, 0x1000), 0u);
    EXPECT_EQ(am_covering(0x12345000ull, 0x3000), 2u);
    EXPECT_EQ(am_covering(0x1FF000ull, 0x2000), 10u);  // straddles a 2 MiB boundary
    EXPECT_EQ(am_covering(0x200000ull, 0x200000), 9u);
}

TEST(VtdRanges, DeviceTlbSize) {
    EXPECT_EQ(devtlb_encode(0x12345ABCull, 0), (DevTlbAddr{0x12345000ull, false}));
    EXPECT_EQ(devtlb_encode(0x12345000ull, 1), (DevTlbAddr{0x12344000ull, true}));   // 8 KiB: bit 12 clear
    EXPECT_EQ(devtlb_encode(0x12345000ull, 2), (DevTlbAddr{0x12345000ull, true}));   // 16 KiB: bit 12 set
    EXPECT_EQ(devtlb_encode(0x12345000ull, 4), (DevTlbAddr{0x12347000ull, true}));   // 64 KiB: bits 14:12 set
    EXPECT_EQ(devtlb_encode(0x0ull, 52), (DevTlbAddr{0x7FFFFFFFFFFFF000ull, true}));  // everything
    EXPECT_EQ(devtlb_range(0x12345FFFull, false), (AddrRange{0x12345000ull, 0x12345FFFull}));
    EXPECT_EQ(devtlb_range(0x12344000ull, true), (AddrRange{0x12344000ull, 0x12345FFFull}));
    EXPECT_EQ(devtlb_range(0x12347000ull, true), (AddrRange{0x12340000ull, 0x1234FFFFull}));
    EXPECT_EQ(devtlb_range(0x00000000002FF000ull, true), (AddrRange{0x200000ull, 0x3FFFFFull}));
    EXPECT_EQ(devtlb_range(0x7FFFFFFFFFFFF000ull, true), (AddrRange{0, ~0ull}));
    EXPECT_EQ(devtlb_range(0xFFFFFFFFFFFFF000ull, true), (AddrRange{0, ~0ull}));
}

// ---- fault records and page requests -------------------------------------------------------------

TEST(VtdFault, RecordEncoding) {
    FaultRecord f;
    f.fi = 0xDEADB000ull;
    f.sid = 0x0218;
    f.pp = true;
    f.fr = fr::SM_FS_NOT_PRESENT;
    f.pasid = 5;
    f.t1 = true;
    f.f = true;
    uint64_t w[2];
    encode(f, w);
    EXPECT_EQ(w[0], 0xDEADB000ull);
    EXPECT_EQ(w[1], 0xC000057180000218ull);
    EXPECT_EQ(decode_fault_record(w), f);
    EXPECT_EQ(fault_req_type(f), FaultReqType::Read);
    // T2 bit 92, PRIV bit 93, EXE bit 94, AT 2 at [125:124]
    const uint64_t hw[2] = {0xFFFFF123ull, 0x2000000770000001ull};
    const FaultRecord g = decode_fault_record(hw);
    EXPECT_EQ(g.fi, 0xFFFFF000ull);
    EXPECT_TRUE(g.t2 && g.priv && g.exe);
    EXPECT_FALSE(g.pp || g.t1 || g.f);
    EXPECT_EQ(g.fr, 0x07);
    EXPECT_EQ(g.at, 2);
    EXPECT_EQ(fault_req_type(g), FaultReqType::PageRequest);
    FaultRecord h;
    set_fault_req_type(h, FaultReqType::AtomicOp);
    EXPECT_TRUE(h.t1 && h.t2);
    EXPECT_STREQ(fault_reason_name(fr::SM_FS_NOT_PRESENT), "SM: first-stage entry not present");
    EXPECT_STREQ(fault_reason_name(0xFF), "unknown");
}

TEST(VtdPrq, PageRequestDescriptor) {
    PageRequest p;
    p.pasid_present = true;
    p.rid = 0x0100;
    p.pasid = 3;
    p.priv = true;
    p.read = true;
    p.write = true;
    p.lpig = true;
    p.prgi = 0x12;
    p.addr = 0x00007F0012345000ull;
    const Desc d = encode(p);
    EXPECT_EQ(d.qw[0], 0x0020000301000101ull);
    EXPECT_EQ(d.qw[1], 0x00007F0012345097ull);
    EXPECT_EQ(d.qw[2], 0ull);
    EXPECT_EQ(d.qw[3], 0ull);
    EXPECT_EQ(decode_page_request(d), p);
    const PageRequest x = decode_page_request(words(0x0010000000000001ull, 0xFFFFFFFFFFFFF000ull));
    EXPECT_TRUE(x.exe);
    EXPECT_FALSE(x.pasid_present || x.priv || x.read || x.write || x.lpig);
    EXPECT_EQ(x.prgi, 0);
    EXPECT_EQ(x.addr, 0xFFFFFFFFFFFFF000ull);
}

// ---- interrupt remapping ------------------------------------------------------------------------

TEST(VtdIr, IrteEncoding) {
    Irte e;
    e.present = true;
    e.vector = 0x31;
    e.dst = 5;
    e.sid = 0x00F8;
    e.svt = svt::SID_SQ;
    uint64_t w[2];
    encode(e, w);
    EXPECT_EQ(w[0], 0x0000000500310001ull);
    EXPECT_EQ(w[1], 0x00000000000400F8ull);
    EXPECT_EQ(decode_irte(w), e);
    const uint64_t flags[2] = {0x0000120000FF8FFFull, 0x0000000000030000ull};
    const Irte f = decode_irte(flags);
    EXPECT_TRUE(f.present && f.fpd && f.dm && f.rh && f.tm && f.im);
    EXPECT_EQ(f.dlm, dlm::EXTINT);
    EXPECT_EQ(f.avail, 0xF);
    EXPECT_EQ(f.vector, 0xFF);
    EXPECT_EQ(f.dst, xapic_dst(0x12));  // xAPIC destination in bits 47:40
    EXPECT_EQ(f.sq, 3);
    EXPECT_EQ(f.svt, svt::NONE);
}

TEST(VtdIr, RemappableMsi) {
    const MsiMessage m = encode(RemapMsi{0x1234, true, 3});
    EXPECT_EQ(m.addr, 0xFEE24698ull);
    EXPECT_EQ(m.data, 3u);
    const auto r = decode_remap_msi(m);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->handle, 0x1234);
    EXPECT_EQ(irte_index(*r), 0x1237u);
    const MsiMessage hi = encode(RemapMsi{0x8001, false, 7});
    EXPECT_EQ(hi.addr, 0xFEE00034ull);  // handle[15] in bit 2
    EXPECT_EQ(hi.data, 0u);
    const auto h = decode_remap_msi(MsiMessage{0xFEE00034ull, 0x55});
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->handle, 0x8001);
    EXPECT_FALSE(h->shv);
    EXPECT_EQ(irte_index(*h), 0x8001u);  // data ignored without SHV
    EXPECT_FALSE(decode_remap_msi(MsiMessage{0xFEE01000ull, 0x41}).has_value());  // compatibility format
    EXPECT_FALSE(decode_remap_msi(MsiMessage{0xFED00010ull, 0}).has_value());     // outside the window
    EXPECT_TRUE(msi_in_window(0xFEEFFFFCull));
    EXPECT_FALSE(msi_in_window(0x1FEE00000ull));
}
