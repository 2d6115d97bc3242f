// Unit tests of the AMD-Vi format definitions against hand-encoded words (spec 48882 layouts).
#include "models/iommu/amdvi/amdvi_defs.h"

#include <gtest/gtest.h>

using namespace iommusim::amdvi;

// ---- registers ----------------------------------------------------------------------------------

TEST(AmdviRegs, OffsetsAndFields) {
    EXPECT_EQ(reg::DEV_TAB_BASE, 0x0000u);
    EXPECT_EQ(reg::CMD_BUF_BASE, 0x0008u);
    EXPECT_EQ(reg::EVENT_LOG_BASE, 0x0010u);
    EXPECT_EQ(reg::CONTROL, 0x0018u);
    EXPECT_EQ(reg::EXCL_BASE, 0x0020u);
    EXPECT_EQ(reg::EXCL_LIMIT, 0x0028u);
    EXPECT_EQ(reg::EXT_FEATURE, 0x0030u);
    EXPECT_EQ(reg::PPR_LOG_BASE, 0x0038u);
    EXPECT_EQ(reg::CMD_BUF_HEAD, 0x2000u);
    EXPECT_EQ(reg::CMD_BUF_TAIL, 0x2008u);
    EXPECT_EQ(reg::EVENT_LOG_HEAD, 0x2010u);
    EXPECT_EQ(reg::EVENT_LOG_TAIL, 0x2018u);
    EXPECT_EQ(reg::STATUS, 0x2020u);
    EXPECT_EQ(reg::PPR_LOG_HEAD, 0x2030u);
    EXPECT_EQ(reg::PPR_LOG_TAIL, 0x2038u);
    EXPECT_EQ(control::IOMMU_EN | control::EVENT_LOG_EN | control::CMD_BUF_EN | control::PPR_EN | control::GT_EN,
              0x19005ull);
    EXPECT_EQ(control::HT_TUN_EN | control::EVENT_INT_EN | control::COM_WAIT_INT_EN | control::PPR_LOG_EN |
                  control::PPR_INT_EN | control::GA_EN,
              0x2601Aull);
    EXPECT_EQ(control::INV_TIMEOUT.make(3), 0x60ull);
    EXPECT_EQ(control::XT_EN, 1ull << 50);
    EXPECT_EQ(status::COM_WAIT_INT | status::CMD_BUF_RUN, 0x14ull);
}

TEST(AmdviRegs, ExtendedFeatures) {
    // PreF|PPR|XT|GT|IA|GA|HE|PC, HATS 2, GATS 1, GLXSup 1, PASmax 15.
    const uint64_t efr_val = 0x0000000F00005BD7ull;
    EXPECT_TRUE(efr_val & efr::PREF_SUP);
    EXPECT_TRUE(efr_val & efr::PPR_SUP);
    EXPECT_TRUE(efr_val & efr::XT_SUP);
    EXPECT_FALSE(efr_val & efr::NX_SUP);
    EXPECT_TRUE(efr_val & efr::GT_SUP);
    EXPECT_TRUE(efr_val & efr::IA_SUP);
    EXPECT_TRUE(efr_val & efr::GA_SUP);
    EXPECT_TRUE(efr_val & efr::HE_SUP);
    EXPECT_TRUE(efr_val & efr::PC_SUP);
    EXPECT_EQ(efr::HATS.get(efr_val), 2u);
    EXPECT_EQ(efr::hats_levels(2), 6u);
    EXPECT_EQ(efr::GATS.get(efr_val), 1u);
    EXPECT_EQ(efr::gats_levels(1), 5u);
    EXPECT_EQ(efr::GLX_SUP.get(efr_val), 1u);
    EXPECT_EQ(efr::PAS_MAX.get(efr_val), 15u);
    EXPECT_EQ(efr::pasid_bits(15), 16u);
    EXPECT_EQ(efr::hats_levels(3), 0u);
    EXPECT_EQ(efr::SMIF_SUP.make(1), 0x10000ull);
}

TEST(AmdviRegs, DeviceTableAndExclusion) {
    const uint64_t base = 0x123456000ull | 0x1FF;
    EXPECT_EQ(base & devtab::BASE_MASK, 0x123456000ull);
    EXPECT_EQ(devtab::SIZE.get(base), 0x1FFu);
    EXPECT_EQ(devtab::entries(0x1FF), 65536u);
    EXPECT_EQ(devtab::entries(0), 128u);
    EXPECT_EQ(devtab::size_field(65536), 0x1FFu);
    EXPECT_EQ(devtab::size_field(256), 1u);
    EXPECT_EQ(devtab::size_field(129), 1u);
    EXPECT_EQ(devtab::size_field(1), 0u);
    EXPECT_EQ(excl::limit(0x12345678), 0x12345FFFull);
}

TEST(AmdviRing, BaseLengthAndPointers) {
    const uint64_t b = ring::encode_base(0x12345000, 9);
    EXPECT_EQ(b, 0x0900000012345000ull);
    EXPECT_EQ(ring::LEN.get(0x0F00000012345000ull), 15u);
    EXPECT_EQ(ring::entries(9), 512u);
    EXPECT_EQ(ring::bytes(9), 8192u);
    EXPECT_EQ(ring::bytes(8), 4096u);
    EXPECT_FALSE(ring::len_valid(7));
    EXPECT_TRUE(ring::len_valid(8));
    EXPECT_TRUE(ring::len_valid(15));
    EXPECT_FALSE(ring::len_valid(16));
    EXPECT_EQ(ring::next(0x10, 9), 0x20u);
    EXPECT_EQ(ring::next(0x1FF0, 9), 0u);
    EXPECT_TRUE(ring::empty(0x30, 0x30));
    EXPECT_TRUE(ring::full(0x20, 0x10, 9));
    EXPECT_TRUE(ring::full(0x0, 0x1FF0, 9));
    EXPECT_FALSE(ring::full(0x0, 0x1FE0, 9));
    EXPECT_EQ(ring::count(0x1FE0, 0x20, 9), 4u);
    EXPECT_EQ(ring::count(0x100, 0x100, 9), 0u);
    EXPECT_EQ(ring::free_slots(0x1FE0, 0x20, 9), 507u);
    EXPECT_EQ(ring::PTR.get(0x7FFF0), 0x7FFFu);
    EXPECT_EQ(0xFFFFFFFFu & ring::PTR_MASK, 0x7FFF0u);
}

// ---- DTE ----------------------------------------------------------------------------------------

TEST(AmdviDte, HostTranslationWithRemapping) {
    Dte d;
    d.v = true;
    d.tv = true;
    d.mode = 4;
    d.pt_root = 0x0000001234567000ull;
    d.ir = true;
    d.iw = true;
    d.domain_id = 0xBEEF;
    d.i = true;
    d.ex = true;
    d.sysmgt = dte::SYSMGT_FWD_INTX;
    d.iv = true;
    d.int_tab_len = 9;
    d.int_table_root = 0xFEDCBA80ull;
    d.int_ctl = dte::INTCTL_REMAP;
    uint64_t w[4];
    encode(d, w);
    // V | TV | Mode 4 << 9 | root | IR 61 | IW 62
    EXPECT_EQ(w[0], 0x6000001234567803ull);
    // DomainID | I bit 32 | EX bit 39 | SysMgt 1 << 40
    EXPECT_EQ(w[1], 0x000001810000BEEFull);
    // IV | IntTabLen 9 << 1 | root [51:6] | IntCtl 2 << 60
    EXPECT_EQ(w[2], 0x20000000FEDCBA93ull);
    EXPECT_EQ(w[3], 0ull);
    EXPECT_EQ(decode_dte(w), d);
    EXPECT_TRUE(dte_legal(d));
    EXPECT_EQ(irt_entries(d), 512u);
}

TEST(AmdviDte, GuestFieldsAndGcr3Split) {
    Dte d;
    d.v = true;
    d.tv = true;
    d.had = 3;
    d.mode = 3;
    d.pt_root = 0x8000;
    d.ppr = true;
    d.gprp = true;
    d.giov = true;
    d.gv = true;
    d.glx = 1;
    d.gcr3_root = 0x000ABCDEF1234000ull;  // [14:12] = 4, [30:15] = 0xE246, [51:31] = 0x1579BD
    d.ir = true;
    d.iw = true;
    d.domain_id = 1;
    d.se = true;
    d.sa = true;
    d.ioctl = dte::IOCTL_FORWARD;
    d.cache = true;
    d.sd = true;
    d.sysmgt = dte::SYSMGT_TRANSLATE;
    d.ig = true;
    d.gpm = dte::GPM_5LEVEL;
    d.init_pass = d.eint_pass = d.nmi_pass = true;
    d.int_ctl = dte::INTCTL_FORWARD;
    d.lint0_pass = d.lint1_pass = true;
    uint64_t w[4];
    encode(d, w);
    // 0x783: V|TV|HAD 3<<7|Mode 3<<9; 0x71F0 <<48: GCR3[14:12]=4 at 60:58, IR, IW, GLX 1, GV, GIoV, GPRP, PPR
    EXPECT_EQ(w[0], 0x71F0000000008783ull);
    // GCR3[51:31] << 43 | SysMgt 3 | SD | Cache | IoCtl 1 | SA | SE | GCR3[30:15] << 16 | DomainID 1
    EXPECT_EQ(w[1], 0xABCDEB6EE2460001ull);
    // Lint1|Lint0|IntCtl 1|NMI|EInt|Init|GPM 1 << 54|IG
    EXPECT_EQ(w[2], 0xD740000000000020ull);
    EXPECT_EQ(decode_dte(w), d);
}

TEST(AmdviDte, DecodeLinuxStyleWordsAndLegality) {
    // V | TV | Mode 3 | root 0x100000 | IR | IW ; DomainID 0x2A ; nothing else.
    const uint64_t w[4] = {0x6000000000100603ull, 0x000000000000002Aull, 0, 0};
    const Dte d = decode_dte(w);
    EXPECT_TRUE(d.v);
    EXPECT_TRUE(d.tv);
    EXPECT_EQ(d.mode, 3);
    EXPECT_EQ(d.pt_root, 0x100000ull);
    EXPECT_TRUE(d.ir);
    EXPECT_TRUE(d.iw);
    EXPECT_EQ(d.domain_id, 0x2A);
    EXPECT_FALSE(d.gv);
    EXPECT_EQ(d.gcr3_root, 0ull);
    EXPECT_TRUE(dte_legal(d));
    Dte bad = d;
    bad.mode = 7;
    EXPECT_FALSE(dte_legal(bad));
    bad = d;
    bad.ioctl = 3;
    EXPECT_FALSE(dte_legal(bad));
    bad = d;
    bad.iv = true;
    bad.int_tab_len = 12;
    EXPECT_FALSE(dte_legal(bad));
    bad.v = false;
    EXPECT_TRUE(dte_legal(bad));  // an invalid DTE is never looked at
}

TEST(AmdviGcr3, Indexing) {
    EXPECT_EQ(gcr3::index(0xABCDE, 0), 0x0DEu);
    EXPECT_EQ(gcr3::index(0xABCDE, 1), 0x15Eu);
    EXPECT_EQ(gcr3::index(0xABCDE, 2), 0x002u);
    EXPECT_EQ(gcr3::levels(1), 2u);
    EXPECT_EQ(gcr3::glx_for(9), 0u);
    EXPECT_EQ(gcr3::glx_for(16), 1u);
    EXPECT_EQ(gcr3::glx_for(18), 1u);
    EXPECT_EQ(gcr3::glx_for(20), 2u);
    EXPECT_EQ(gcr3::encode(0x12345678), 0x12345001ull);
    EXPECT_TRUE(gcr3::valid(0x12345001ull));
    EXPECT_EQ(gcr3::addr(0x8000000012345001ull), 0x12345000ull);
}

// ---- commands -----------------------------------------------------------------------------------

namespace {
void expect_cmd(const Cmd& c, uint64_t q0, uint64_t q1) {
    uint64_t w[2];
    encode(c, w);
    EXPECT_EQ(w[0], q0) << opcode_name(c.opcode);
    EXPECT_EQ(w[1], q1) << opcode_name(c.opcode);
    const uint64_t in[2] = {q0, q1};
    EXPECT_EQ(decode_cmd(in), c) << opcode_name(c.opcode);
    EXPECT_TRUE(cmd_well_formed(in)) << opcode_name(c.opcode);
}
}  // namespace

TEST(AmdviCmd, CompletionWait) {
    // word0 = addr[31:3] | i | s, word1 = op 1 << 28 | addr[51:32]; words 2-3 store data
    Cmd c = cmd_completion_wait(0xFABCD1238ull, 0x1122334455667788ull, true);
    expect_cmd(c, 0x1000000FABCD123Bull, 0x1122334455667788ull);
    c.flush = true;
    expect_cmd(c, 0x1000000FABCD123Full, 0x1122334455667788ull);
}

TEST(AmdviCmd, InvalidateDevtabAndInterruptTable) {
    expect_cmd(cmd_inv_devtab_entry(0x0102), 0x2000000000000102ull, 0);
    expect_cmd(cmd_inv_interrupt_table(0x00F8), 0x50000000000000F8ull, 0);
    expect_cmd(cmd_inv_iommu_all(), 0x8000000000000000ull, 0);
}

TEST(AmdviCmd, InvalidateIommuPages) {
    // 1 MiB at 1 MiB: address bits 18:12 set, bit 19 clear, S | PDE; DomainID in word1 [15:0].
    expect_cmd(cmd_inv_iommu_pages(0x0042, 0x100000, 0x100000), 0x3000004200000000ull, 0x000000000017F003ull);
    // One page, PASID 0xABCDE in word0, GN | PDE.
    expect_cmd(cmd_inv_iommu_pages_pasid(0x0007, 0xABCDE, 0x7FFFF000, 0x1000), 0x30000007000ABCDEull,
               0x000000007FFFF006ull);
    // Everything.
    expect_cmd(cmd_inv_iommu_pages(0x0001, 0, ~0ull), 0x3000000100000000ull, 0x7FFFFFFFFFFFF003ull);
    Cmd nopde = cmd_inv_iommu_pages(0x0001, 0x5000, 0x1000, false);
    expect_cmd(nopde, 0x3000000100000000ull, 0x0000000000005000ull);
}

TEST(AmdviCmd, InvalidateIotlbPages) {
    // word0 = Maxpend 0x20 << 24 | PASID[15:8] 0xA1 << 16 | DeviceID 0x0300
    // word1 = op 4 << 28 | PASID[19:16] 5 << 24 | PASID[7:0] 0xB2 << 16 | QueueID 0x0300
    // 8 KiB at 0x40002000: bit 12 clear, S | GN
    const Cmd c = cmd_inv_iotlb_pages_pasid(0x0300, 0x20, 0x5A1B2, 0x40002000, 0x2000);
    expect_cmd(c, 0x45B2030020A10300ull, 0x0000000040002005ull);
    expect_cmd(cmd_inv_iotlb_pages(0x0010, 0x00, 0x7000, 0x1000), 0x4000001000000010ull, 0x7000ull);
}

TEST(AmdviCmd, PrefetchAndCompletePpr) {
    Cmd p;
    p.opcode = op::PREFETCH_IOMMU_PAGES;
    p.device_id = 0x0010;
    p.pf_count = 4;
    p.pasid = 0x12345;
    p.gn = true;
    p.inval = true;
    p.addr = 0xFFFF800000000000ull;
    expect_cmd(p, 0x6001234504000010ull, 0xFFFF800000000014ull);
    // word3 = Status 0xF << 12 | tag 0x1A5; word2 GN
    expect_cmd(cmd_complete_ppr(0x0208, 0x00123, true, 0x1A5, ppr_status::FAILURE), 0x7000012300000208ull,
               0x0000F1A500000004ull);
    expect_cmd(cmd_complete_ppr(0x0208, 0x00123, false, 0x001, ppr_status::SUCCESS), 0x7000000000000208ull,
               0x0000000100000000ull);
}

TEST(AmdviCmd, IllFormed) {
    const uint64_t rsvd[2] = {0x2000000000010102ull, 0};  // DEVTAB with bit 16 set
    EXPECT_FALSE(cmd_well_formed(rsvd));
    const uint64_t rsvd2[2] = {0x8000000000000000ull, 1};  // INVALIDATE_ALL with a word-2 bit
    EXPECT_FALSE(cmd_well_formed(rsvd2));
    const uint64_t op0[2] = {0, 0};
    EXPECT_FALSE(cmd_well_formed(op0));
    const uint64_t op9[2] = {0x9000000000000000ull, 0};
    EXPECT_FALSE(cmd_well_formed(op9));
    EXPECT_EQ(decode_cmd(op9).opcode, 9);
    EXPECT_STREQ(opcode_name(op::INVALIDATE_IOTLB_PAGES), "INVALIDATE_IOTLB_PAGES");
}

// ---- invalidation ranges ------------------------------------------------------------------------

TEST(AmdviInvRange, Encode) {
    EXPECT_EQ(inv_encode(0x1000, 0x1000), (InvAddr{0x1000, false}));
    EXPECT_EQ(inv_encode(0x1800, 0x100), (InvAddr{0x1000, false}));
    EXPECT_EQ(inv_encode(0x1800, 0), (InvAddr{0x1000, false}));
    // [0x1000, 0x3000) straddles 8 KiB blocks: the 16 KiB block at 0 (bit 12 set, bit 13 clear).
    EXPECT_EQ(inv_encode(0x1000, 0x2000), (InvAddr{0x1000, true}));
    EXPECT_EQ(inv_encode(0x2000, 0x2000), (InvAddr{0x2000, true}));
    EXPECT_EQ(inv_encode(0x100000, 0x100000), (InvAddr{0x17F000, true}));
    EXPECT_EQ(inv_encode(0x200000, 0x200000), (InvAddr{0x2FF000, true}));
    EXPECT_EQ(inv_encode(0x40000000, 0x40000000), (InvAddr{0x5FFFF000, true}));
    EXPECT_EQ(inv_encode(0, 1ull << 63), (InvAddr{0x3FFFFFFFFFFFF000ull, true}));
    EXPECT_EQ(inv_encode(0, ~0ull), (InvAddr{0x7FFFFFFFFFFFF000ull, true}));
    EXPECT_EQ(inv_encode(0x7FFFFFFFFFFFF000ull, 0x2000), (InvAddr{0x7FFFFFFFFFFFF000ull, true}));  // crosses bit 63
    EXPECT_EQ(inv_encode(0xFFFFFFFFFFFFF000ull, 0x2000), INV_ALL);  // wraps
    EXPECT_EQ(INV_ALL, (InvAddr{0x7FFFFFFFFFFFF000ull, true}));
}

TEST(AmdviInvRange, Decode) {
    EXPECT_EQ(inv_range(0x12345000, false), (AddrRange{0x12345000, 0x12345FFF}));
    EXPECT_EQ(inv_range(0x12345ABC, false), (AddrRange{0x12345000, 0x12345FFF}));
    EXPECT_EQ(inv_range(0x1000, true), (AddrRange{0, 0x3FFF}));
    EXPECT_EQ(inv_range(0x2000, true), (AddrRange{0x2000, 0x3FFF}));
    EXPECT_EQ(inv_range(0x17F000, true), (AddrRange{0x100000, 0x1FFFFF}));
    EXPECT_EQ(inv_range(0x5FFFF000, true), (AddrRange{0x40000000, 0x7FFFFFFF}));
    EXPECT_EQ(inv_range(0x3FFFFFFFFFFFF000ull, true), (AddrRange{0, 0x7FFFFFFFFFFFFFFFull}));
    EXPECT_EQ(inv_range(0xBFFFFFFFFFFFF000ull, true), (AddrRange{0x8000000000000000ull, ~0ull}));
    EXPECT_EQ(inv_range(0x7FFFFFFFFFFFF000ull, true), (AddrRange{0, ~0ull}));
    EXPECT_EQ(inv_range(0xFFFFFFFFFFFFF000ull, true), (AddrRange{0, ~0ull}));
}

// ---- event log ----------------------------------------------------------------------------------

TEST(AmdviEvent, IoPageFaultDomain) {
    // word0 DeviceID 0x0010; word1 = code 2 << 28 | PE|RW|PR (bits 22:20) | DomainID 5
    const uint64_t w[2] = {0x2070000500000010ull, 0x00007FFFDEADB000ull};
    const Event e = decode_event(w);
    EXPECT_EQ(e.code, evt::IO_PAGE_FAULT);
    EXPECT_EQ(e.device_id, 0x0010);
    EXPECT_EQ(e.domain_id, 5);
    EXPECT_EQ(e.pasid, 0u);
    EXPECT_TRUE(e.pr);
    EXPECT_TRUE(e.rw);
    EXPECT_TRUE(e.pe);
    EXPECT_FALSE(e.gn || e.nx || e.us || e.i || e.rz || e.tr);
    EXPECT_EQ(e.addr, 0x00007FFFDEADB000ull);
    uint64_t out[2];
    encode(e, out);
    EXPECT_EQ(out[0], w[0]);
    EXPECT_EQ(out[1], w[1]);
    EXPECT_STREQ(event_name(e.code), "IO_PAGE_FAULT");
}

TEST(AmdviEvent, IoPageFaultGuest) {
    // word0 = PASID[19:16] 9 << 16 | DeviceID 0x0100; word1 = code 2 | TR|US|GN | PASID[15:0] 0x1234
    Event e;
    e.code = evt::IO_PAGE_FAULT;
    e.device_id = 0x0100;
    e.pasid = 0x91234;
    e.gn = true;
    e.us = true;
    e.tr = true;
    e.addr = 0x0000555512340000ull;
    uint64_t out[2];
    encode(e, out);
    EXPECT_EQ(out[0], 0x2105123400090100ull);
    EXPECT_EQ(out[1], 0x0000555512340000ull);
    EXPECT_EQ(decode_event(out), e);
}

TEST(AmdviEvent, OtherCodes) {
    const uint64_t ill[2] = {0x5000000000000000ull, 0x0000000100000FE0ull};
    const Event a = decode_event(ill);
    EXPECT_EQ(a.code, evt::ILLEGAL_COMMAND_ERROR);
    EXPECT_EQ(a.addr, 0x100000FE0ull);
    // DEV_TAB_HARDWARE_ERROR: Type 1 (target abort) at [26:25], RW, DeviceID 0x42.
    const uint64_t hw[2] = {0x3220000000000042ull, 0x0000000012340040ull};
    const Event b = decode_event(hw);
    EXPECT_EQ(b.code, evt::DEV_TAB_HARDWARE_ERROR);
    EXPECT_EQ(b.type, evt::HWERR_TARGET_ABORT);
    EXPECT_TRUE(b.rw);
    EXPECT_EQ(b.device_id, 0x42);
    // PAGE_TAB_HARDWARE_ERROR with GN = 0 carries the DomainID.
    Event c;
    c.code = evt::PAGE_TAB_HARDWARE_ERROR;
    c.device_id = 0x0001;
    c.domain_id = 0xCAFE;
    c.type = evt::HWERR_DATA_ERROR;
    c.addr = 0x5008;
    uint64_t out[2];
    encode(c, out);
    EXPECT_EQ(out[0], 0x4400CAFE00000001ull);
    EXPECT_EQ(decode_event(out), c);
    EXPECT_STREQ(event_name(evt::IOTLB_INV_TIMEOUT), "IOTLB_INV_TIMEOUT");
    EXPECT_EQ(evt::EVENT_COUNTER_ZERO, 0xA);
    EXPECT_EQ(evt::INVALID_PPR_REQUEST, 0x9);
}

// ---- PPR log ------------------------------------------------------------------------------------

TEST(AmdviPpr, DecodePageRequest) {
    // DeviceID 0x0300, PASID 0x31234 ([15:0] at 31:16, [19:16] at 45:42), PRG index 0xA5, last,
    // flags GN|US|write|read, code 1.
    const uint64_t w[2] = {0x11640EA512340300ull, 0x00007F0012345000ull};
    const PprEntry p = decode_ppr(w);
    EXPECT_EQ(p.code, ppr::PAGE_SERVICE_REQUEST);
    EXPECT_EQ(p.device_id, 0x0300);
    EXPECT_EQ(p.pasid, 0x31234u);
    EXPECT_EQ(p.prg_index, 0xA5);
    EXPECT_TRUE(p.last);
    EXPECT_TRUE(p.gn);
    EXPECT_TRUE(p.us);
    EXPECT_TRUE(p.write);
    EXPECT_TRUE(p.read);
    EXPECT_FALSE(p.exec);
    EXPECT_FALSE(p.rz);
    EXPECT_EQ(p.addr, 0x00007F0012345000ull);
    uint64_t out[2];
    encode(p, out);
    EXPECT_EQ(out[0], w[0]);
    EXPECT_EQ(out[1], w[1]);
}

TEST(AmdviPpr, EncodeExecNotLast) {
    PprEntry p;
    p.device_id = 0x0001;
    p.pasid = 1;
    p.prg_index = 0x1FF;
    p.exec = true;
    p.read = true;
    p.gn = true;
    p.addr = 0x1000;
    uint64_t out[2];
    encode(p, out);
    // code 1 << 60 | GN bit 56 | read bit 50 | exec bit 49 | tag 0x1FF << 32 | PASID 1 << 16 | DeviceID 1
    EXPECT_EQ(out[0], 0x110601FF00010001ull);
    EXPECT_EQ(out[1], 0x1000ull);
}

// ---- interrupt remapping ------------------------------------------------------------------------

TEST(AmdviIrte, Basic32) {
    Irte e;
    e.remap_en = true;
    e.destination = 0x12;
    e.vector = 0x34;
    EXPECT_EQ(encode_irte32(e), 0x00341201u);
    EXPECT_EQ(decode_irte32(0x00341201u), e);
    // RemapEn | SupIOPF | IntType NMI (4 << 2) | RqEoi | DM, destination 0xFF, vector 2
    const Irte n = decode_irte32(0x0002FF73u);
    EXPECT_TRUE(n.remap_en);
    EXPECT_TRUE(n.sup_iopf);
    EXPECT_EQ(n.int_type, irte::NMI);
    EXPECT_TRUE(n.rq_eoi);
    EXPECT_TRUE(n.dm);
    EXPECT_FALSE(n.guest_mode);
    EXPECT_EQ(n.destination, 0xFFu);
    EXPECT_EQ(n.vector, 0x02);
    EXPECT_EQ(irte::index(0x1234), 0x234u);
}

TEST(AmdviIrte, Format128) {
    Irte e;
    e.remap_en = true;
    e.int_type = irte::ARBITRATED;
    e.dm = true;
    e.destination = 0x12345678;  // x2APIC ID: [23:0] in lo [31:8], [31:24] in hi [63:56]
    e.vector = 0xEC;
    uint64_t w[2];
    encode_irte128(e, w);
    EXPECT_EQ(w[0], 0x0000000034567845ull);
    EXPECT_EQ(w[1], 0x12000000000000ECull);
    EXPECT_EQ(decode_irte128(w), e);
}
