// Unit tests of the SMMUv3 format definitions against hand-encoded words from the architecture (IHI 0070).
#include "models/iommu/smmuv3/smmuv3_defs.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace iommusim::smmuv3;

// ---- registers and queues -----------------------------------------------------------------------

TEST(Smmuv3Regs, OffsetsAndFields) {
    EXPECT_EQ(reg::CR0, 0x20u);
    EXPECT_EQ(reg::STRTAB_BASE_CFG, 0x88u);
    EXPECT_EQ(reg::CMDQ_CONS, 0x9Cu);
    EXPECT_EQ(reg::EVENTQ_PROD, 0x100A8u);
    EXPECT_EQ(reg::EVENTQ_CONS, 0x100ACu);
    EXPECT_EQ(reg::PRIQ_PROD, 0x100C8u);
    EXPECT_EQ(reg::PRIQ_CONS, 0x100CCu);
    EXPECT_TRUE(reg::is_64bit(reg::CMDQ_BASE));
    EXPECT_FALSE(reg::is_64bit(reg::CMDQ_PROD));
    EXPECT_EQ(cr0::SMMUEN | cr0::PRIQEN | cr0::EVTQEN | cr0::CMDQEN | cr0::ATSCHK, 0x1Fu);
    // STRTAB_BASE_CFG: 2-level, SPLIT 8, LOG2SIZE 16.
    const uint64_t cfg = strtab::CFG_FMT.make(strtab::FMT_2LVL) | strtab::CFG_SPLIT.make(8) |
                         strtab::CFG_LOG2SIZE.make(16);
    EXPECT_EQ(cfg, 0x10210ull);
    EXPECT_EQ(strtab::CFG_SPLIT.get(0x10210), 8u);
    // CMDQ_BASE: RA, address 0x12345660, 2^8 entries.
    EXPECT_EQ(qbase::RWA | (0x12345660ull & qbase::ADDR_MASK) | qbase::LOG2SIZE.make(8), 0x4000000012345668ull);
    EXPECT_EQ(qreg::CMDQ_CONS_ERR.get(0x02000005u), qreg::CERROR_ABT);
    EXPECT_EQ(idr1::CMDQS.get(0x02A00000u), 21u);
    EXPECT_EQ(idr0::ST_LEVEL.get(0x08000000u), idr0::ST_LEVEL_2LVL);
    EXPECT_EQ(ps_bits(5), 48u);
    EXPECT_EQ(ps_bits(7), 0u);
}

TEST(Smmuv3Queue, IndexWrapFullEmpty) {
    constexpr unsigned L = 3;  // 8 entries: index [2:0], wrap bit 3
    EXPECT_EQ(queue_index(0xB, L), 3u);
    EXPECT_TRUE(queue_wrap(0xB, L));
    EXPECT_FALSE(queue_wrap(0x3, L));
    EXPECT_EQ(queue_inc(0x7, L), 0x8u);  // index wraps to 0, wrap bit toggles
    EXPECT_EQ(queue_inc(0xF, L), 0x0u);
    EXPECT_EQ(queue_inc(0x6, L, 3), 0x9u);
    EXPECT_EQ(queue_inc(0x01000007u, L), 0x01000008u);  // CMDQ_CONS.ERR preserved
    EXPECT_EQ(queue_inc(0x8000000Fu, L), 0x80000000u);  // OVFLG preserved
    EXPECT_TRUE(queue_empty(0x5, 0x5, L));
    EXPECT_TRUE(queue_empty(0x80000005u, 0x5, L));  // flags do not count
    EXPECT_FALSE(queue_full(0x5, 0x5, L));
    EXPECT_TRUE(queue_full(0x8, 0x0, L));
    EXPECT_TRUE(queue_full(0x3, 0xB, L));
    EXPECT_FALSE(queue_empty(0x8, 0x0, L));
    EXPECT_EQ(queue_count(0x9, 0x6, L), 3u);
    EXPECT_EQ(queue_count(0x8, 0x0, L), 8u);
    EXPECT_EQ(queue_count(0x2, 0x2, L), 0u);
}

// ---- STE ----------------------------------------------------------------------------------------

TEST(Smmuv3Ste, S1TransEncoding) {
    Ste s;
    s.valid = true;
    s.config = SteConfig::S1Trans;
    s.s1_context_ptr = 0x0000123456789AC0ull;
    s.s1_cdmax = 3;
    s.s1dss = ste::S1DSS_SSID0;
    s.s1cir = 1;
    s.s1cor = 1;
    s.s1csh = 3;
    s.eats = ste::EATS_TRANS;
    s.shcfg = ste::SHCFG_INCOMING;
    uint64_t w[8];
    encode(s, w);
    // V | Config 0b101 << 1 | S1ContextPtr | S1CDMax 3 << 59
    EXPECT_EQ(w[0], 0x1800123456789ACBull);
    // S1DSS 2 | S1CIR 1<<2 | S1COR 1<<4 | S1CSH 3<<6 | EATS 1<<28 | SHCFG 1<<44
    EXPECT_EQ(w[1], 0x00001000100000D6ull);
    for (int i = 2; i < 8; ++i) EXPECT_EQ(w[i], 0ull) << i;
    EXPECT_EQ(decode_ste(w), s);
}

TEST(Smmuv3Ste, S2TransEncoding) {
    Ste s;
    s.valid = true;
    s.config = SteConfig::S2Trans;
    s.s2vmid = 0x1234;
    s.s2t0sz = 24;
    s.s2sl0 = 1;
    s.s2ir0 = 1;
    s.s2or0 = 1;
    s.s2sh0 = 3;
    s.s2tg = 0;
    s.s2ps = 2;
    s.s2aa64 = true;
    s.s2affd = true;
    s.s2ptw = true;
    s.s2s = true;
    s.s2r = true;
    s.s2ttb = 0x000000ABCDEF1000ull;
    uint64_t w[8];
    encode(s, w);
    EXPECT_EQ(w[0], 0x000000000000000Dull);  // V | 0b110 << 1
    EXPECT_EQ(w[1], 0ull);
    // VMID | T0SZ 24<<32 | SL0 1<<38 | IR0 1<<40 | OR0 1<<42 | SH0 3<<44 | PS 2<<48 | AA64 51 | AFFD 53 |
    // PTW 54 | S 57 | R 58
    EXPECT_EQ(w[2], 0x066A355800001234ull);
    EXPECT_EQ(w[3], 0x000000ABCDEF1000ull);
    EXPECT_EQ(decode_ste(w), s);
}

TEST(Smmuv3Ste, DecodeHandWrittenWords) {
    const uint64_t w[8] = {0x0000000000000009ull,   // V, bypass
                           0x0000000080000000ull,   // STRW = EL2
                           0x0180000000000000ull,   // S2HD bit 55, S2HA bit 56
                           0x0000000000000000ull, 0, 0, 0, 0};
    const Ste s = decode_ste(w);
    EXPECT_TRUE(s.valid);
    EXPECT_EQ(s.config, SteConfig::Bypass);
    EXPECT_EQ(s.strw, ste::STRW_EL2);
    EXPECT_TRUE(s.s2hd);
    EXPECT_TRUE(s.s2ha);
    EXPECT_FALSE(s.s2endi);
    EXPECT_TRUE(s.s2r == false && s.s2s == false);
    // Bits above S2TTB[51:4] and below bit 4 are not address bits.
    const uint64_t w2[8] = {0, 0, 0, 0xFFF000ABCDEF100Full, 0, 0, 0, 0};
    EXPECT_EQ(decode_ste(w2).s2ttb, 0x000000ABCDEF1000ull);
    EXPECT_TRUE(ste_config_valid(0b110));
    EXPECT_FALSE(ste_config_valid(0b010));
}

TEST(Smmuv3Ste, L1StreamTableDescriptor) {
    EXPECT_EQ(encode(L1Std{9, 0x0000001234567000ull}), 0x0000001234567009ull);
    const L1Std d = decode_l1std(0xFFF0001234567049ull);
    EXPECT_EQ(d.span, 9);
    EXPECT_EQ(d.l2ptr, 0x0000001234567040ull);
}

// ---- CD -----------------------------------------------------------------------------------------

TEST(Smmuv3Cd, Encoding) {
    Cd c;
    c.t0sz = 16;
    c.tg0 = 0;
    c.ir0 = 1;
    c.or0 = 1;
    c.sh0 = 3;
    c.epd1 = true;
    c.valid = true;
    c.ips = 5;
    c.aa64 = true;
    c.r = true;
    c.a = true;
    c.aset = true;
    c.asid = 0x42;
    c.ttb0 = 0x0000000123456000ull;
    c.mair = 0x000000000044FF04ull;
    uint64_t w[8];
    encode(c, w);
    EXPECT_EQ(w[0], 0x0042E205C0003510ull);
    EXPECT_EQ(w[1], 0x0000000123456000ull);
    EXPECT_EQ(w[2], 0ull);
    EXPECT_EQ(w[3], 0x000000000044FF04ull);
    for (int i = 4; i < 8; ++i) EXPECT_EQ(w[i], 0ull) << i;
    EXPECT_EQ(decode_cd(w), c);
}

TEST(Smmuv3Cd, OtherDword0Bits) {
    // T1SZ 25<<16 | TG1 2<<22 | EPD0 14 | ENDI 15 | AFFD 35 | WXN 36 | UWXN 37 | TBI0 38 | TBI1 39 | PAN 40 |
    // HD 42 | HA 43 | S 44
    const uint64_t w[8] = {0x00001DF80099C000ull, 0x0000000000001002ull, 0x0000000000002002ull, 0, 0x77, 0, 0, 0};
    const Cd c = decode_cd(w);
    EXPECT_EQ(c.t1sz, 25);
    EXPECT_EQ(c.tg1, 2);
    EXPECT_EQ(tg1_shift(c.tg1), 12u);
    EXPECT_TRUE(c.epd0 && c.endi && c.affd && c.wxn && c.uwxn && c.tbi0 && c.tbi1 && c.pan && c.hd && c.ha &&
                c.s);
    EXPECT_FALSE(c.valid || c.epd1 || c.aa64 || c.r || c.a || c.aset);
    EXPECT_TRUE(c.had0);
    EXPECT_EQ(c.ttb0, 0x1000ull);
    EXPECT_TRUE(c.had1);
    EXPECT_EQ(c.ttb1, 0x2000ull);
    EXPECT_EQ(c.amair, 0x77ull);
    EXPECT_EQ(tg0_shift(1), 16u);
    EXPECT_EQ(tg0_shift(2), 14u);
    EXPECT_EQ(tg0_encode(14), 2);
}

TEST(Smmuv3Cd, L1CdDescriptor) {
    EXPECT_EQ(encode(L1Cd{true, 0x0000008765432000ull}), 0x0000008765432001ull);
    const L1Cd d = decode_l1cd(0x0000008765432FFFull);
    EXPECT_TRUE(d.valid);
    EXPECT_EQ(d.l2ptr, 0x0000008765432000ull);
}

// ---- commands -----------------------------------------------------------------------------------

namespace {
void expect_cmd(const Cmd& c, uint64_t w0, uint64_t w1) {
    uint64_t w[2];
    encode(c, w);
    EXPECT_EQ(w[0], w0) << opcode_name(c.opcode);
    EXPECT_EQ(w[1], w1) << opcode_name(c.opcode);
    EXPECT_EQ(decode_cmd(w), c) << opcode_name(c.opcode);
}
}  // namespace

TEST(Smmuv3Cmd, TlbiNhVaWithRange) {
    Cmd c;
    c.opcode = op::TLBI_NH_VA;
    c.asid = 5;
    c.num = 3;
    c.scale = 1;
    c.tg = 1;  // 4K
    c.ttl = 3;
    c.leaf = true;
    c.addr = 0x40000;
    // NUM 3<<12 | SCALE 1<<20 | ASID 5<<48 ; Leaf | TTL 3<<8 | TG 1<<10 | address
    expect_cmd(c, 0x0005000000103012ull, 0x0000000000040701ull);
    // (3+1) * 2^1 pages of 4 KiB
    EXPECT_EQ(tlbi_range(c), (AddrRange{0x40000, 0x47FFF}));
}

TEST(Smmuv3Cmd, TlbiRanges) {
    Cmd c;
    c.opcode = op::TLBI_NH_VA;
    c.addr = 0x12345000;
    c.tg = 0;  // not a range: the 4 KiB page holding the address
    EXPECT_EQ(tlbi_range(c), (AddrRange{0x12345000, 0x12345FFF}));
    c.tg = 3;  // 64K granule, 1 page, address aligned down to 64 KiB
    EXPECT_EQ(tlbi_range(c), (AddrRange{0x12340000, 0x1234FFFF}));
    c.tg = 2;  // 16K granule, (31+1) * 2^2 = 128 pages = 2 MiB
    c.num = 31;
    c.scale = 2;
    EXPECT_EQ(tlbi_range(c), (AddrRange{0x12344000, 0x12543FFF}));
}

TEST(Smmuv3Cmd, ConfigInvalidation) {
    Cmd c;
    c.opcode = op::CFGI_STE;
    c.sid = 0x1234;
    c.leaf = true;
    expect_cmd(c, 0x0000123400000003ull, 0x1ull);

    Cmd all;
    all.opcode = op::CFGI_ALL;
    all.range = CFGI_RANGE_ALL;
    expect_cmd(all, 0x4ull, 0x1Full);
    EXPECT_EQ(cfgi_sid_range(all), (AddrRange{0, 0xFFFFFFFFull}));

    Cmd r;
    r.opcode = op::CFGI_STE_RANGE;
    r.sid = 0x1235;
    r.range = 3;  // 16 STEs
    expect_cmd(r, 0x0000123500000004ull, 0x3ull);
    EXPECT_EQ(cfgi_sid_range(r), (AddrRange{0x1230, 0x123F}));

    Cmd cd;
    cd.opcode = op::CFGI_CD;
    cd.ssid = 0x45;
    cd.sid = 7;
    cd.leaf = true;
    expect_cmd(cd, 0x0000000700045005ull, 0x1ull);

    Cmd cdall;
    cdall.opcode = op::CFGI_CD_ALL;
    cdall.sid = 0x80;
    expect_cmd(cdall, 0x0000008000000006ull, 0ull);
}

TEST(Smmuv3Cmd, TlbiOthers) {
    Cmd a;
    a.opcode = op::TLBI_NH_ASID;
    a.vmid = 2;
    a.asid = 0x33;
    expect_cmd(a, 0x0033000200000011ull, 0ull);

    Cmd v;
    v.opcode = op::TLBI_S12_VMALL;
    v.vmid = 0xBEEF;
    expect_cmd(v, 0x0000BEEF00000028ull, 0ull);

    Cmd n;
    n.opcode = op::TLBI_NSNH_ALL;
    expect_cmd(n, 0x30ull, 0ull);

    Cmd ipa;
    ipa.opcode = op::TLBI_S2_IPA;
    ipa.vmid = 9;
    ipa.leaf = true;
    ipa.addr = 0x0000F12345000ull;
    expect_cmd(ipa, 0x000000090000002Aull, 0x0000F12345001ull);
    // IPA is [51:12]: higher bits are dropped by the encoder.
    ipa.addr = 0xF0F00ABC12345000ull;
    uint64_t w[2];
    encode(ipa, w);
    EXPECT_EQ(w[1], 0x00000ABC12345001ull);
    EXPECT_EQ(decode_cmd(w).addr, 0x00000ABC12345000ull);

    Cmd vaa;
    vaa.opcode = op::TLBI_NH_VAA;
    vaa.vmid = 1;
    vaa.addr = 0xFFFF800000001000ull;  // upper VA bits are carried
    vaa.tg = 0;
    expect_cmd(vaa, 0x0000000100000013ull, 0xFFFF800000001000ull);
}

TEST(Smmuv3Cmd, AtcInv) {
    Cmd c;
    c.opcode = op::ATC_INV;
    c.sid = 0x10;
    c.ssid = 3;
    c.ssv = true;
    c.global = true;
    c.size = 2;
    c.addr = 0x12345000;
    // G bit 9 | SSV bit 11 | SSID 3<<12 | SID 0x10<<32 ; Size 2 | address
    expect_cmd(c, 0x0000001000003A40ull, 0x0000000012345002ull);
    EXPECT_EQ(atc_inv_range(c), (AddrRange{0x12344000, 0x12347FFF}));  // 4 pages, aligned to 16 KiB
    c.size = ATC_INV_SIZE_ALL;
    EXPECT_EQ(atc_inv_range(c), (AddrRange{0, ~0ull}));
    c.size = 0;
    EXPECT_EQ(atc_inv_range(c), (AddrRange{0x12345000, 0x12345FFF}));
}

TEST(Smmuv3Cmd, PriRespResumeStallTerm) {
    Cmd p;
    p.opcode = op::PRI_RESP;
    p.sid = 0x20;
    p.ssv = true;
    p.ssid = 1;
    p.prg_index = 0x1AB;
    p.resp = pri_resp::SUCCESS;
    expect_cmd(p, 0x0000002000001841ull, 0x00000000000021ABull);

    Cmd r;
    r.opcode = op::RESUME;
    r.sid = 5;
    r.resp = resume_action::RETRY;
    r.stag = 0x77;
    expect_cmd(r, 0x0000000500001044ull, 0x77ull);

    Cmd t;
    t.opcode = op::STALL_TERM;
    t.sid = 0xABCD;
    expect_cmd(t, 0x0000ABCD00000045ull, 0ull);
}

TEST(Smmuv3Cmd, Sync) {
    Cmd c;
    c.opcode = op::CMD_SYNC;
    c.cs = sync_cs::IRQ;
    c.msh = 3;
    c.msi_attr = 0xF;
    c.msi_data = 0xDEAD;
    c.msi_addr = 0xFEE00040;
    // CS 1<<12 | MSH 3<<22 | MSIAttr 0xF<<24 | MSIData<<32 ; MSIAddress[51:2]
    expect_cmd(c, 0x0000DEAD0FC01046ull, 0x00000000FEE00040ull);
    Cmd s;
    s.opcode = op::CMD_SYNC;
    s.cs = sync_cs::SEV;
    expect_cmd(s, 0x0000000000002046ull, 0ull);
}

TEST(Smmuv3Cmd, OpcodeValidityAndNames) {
    for (uint8_t o : {op::CFGI_STE, op::CFGI_STE_RANGE, op::CFGI_CD, op::CFGI_CD_ALL, op::TLBI_NH_ALL,
                      op::TLBI_NH_ASID, op::TLBI_NH_VA, op::TLBI_NH_VAA, op::TLBI_S12_VMALL, op::TLBI_S2_IPA,
                      op::TLBI_NSNH_ALL, op::ATC_INV, op::PRI_RESP, op::RESUME, op::STALL_TERM, op::CMD_SYNC})
        EXPECT_TRUE(valid_opcode(o)) << int(o);
    for (int o : {0x00, 0x07, 0x14, 0x29, 0x42, 0x47, 0xFF}) EXPECT_FALSE(valid_opcode(static_cast<uint8_t>(o))) << o;
    EXPECT_STREQ(opcode_name(0x46), "CMD_SYNC");
    EXPECT_STREQ(opcode_name(0x12), "CMD_TLBI_NH_VA");
    EXPECT_STREQ(opcode_name(0x99), "CMD_UNKNOWN");
}

// ---- events and PRI entries ---------------------------------------------------------------------

TEST(Smmuv3Event, TranslationFault) {
    Event e;
    e.type = evt::F_TRANSLATION;
    e.sid = 0x10;
    e.ssv = true;
    e.ssid = 5;
    e.stall = true;
    e.stag = 0x1234;
    e.rnw = true;
    e.s2 = true;
    e.cls = evt::CLASS_IN;
    e.input_addr = 0xFFFF000012345678ull;
    e.ipa = 0x0000000087654000ull;
    uint64_t w[4];
    encode(e, w);
    EXPECT_EQ(w[0], 0x0000001000005810ull);  // type | SSV | SSID 5<<12 | SID<<32
    EXPECT_EQ(w[1], 0x0000028880001234ull);  // STAG | Stall 31 | RnW 35 | S2 39 | CLASS 2<<40
    EXPECT_EQ(w[2], 0xFFFF000012345678ull);
    EXPECT_EQ(w[3], 0x0000000087654000ull);
    EXPECT_EQ(decode_event(w), e);
}

TEST(Smmuv3Event, DecodeHandWrittenRecord) {
    // F_PERMISSION: PnU 33 | InD 34 | NSIPA 38 | CLASS TT 1<<40 | TTRnW 44; FetchAddr/IPA with bits [2:0] and
    // [63:52] outside the field.
    const uint64_t w[4] = {0x0000000700000013ull, 0x0000114600000000ull, 0x1000ull, 0xF000000012345678ull};
    const Event e = decode_event(w);
    EXPECT_EQ(e.type, evt::F_PERMISSION);
    EXPECT_EQ(e.sid, 7u);
    EXPECT_FALSE(e.ssv);
    EXPECT_TRUE(e.pnu);
    EXPECT_TRUE(e.ind);
    EXPECT_FALSE(e.rnw);
    EXPECT_TRUE(e.nsipa);
    EXPECT_FALSE(e.s2);
    EXPECT_EQ(e.cls, evt::CLASS_TT);
    EXPECT_TRUE(e.ttrnw);
    EXPECT_FALSE(e.stall);
    EXPECT_EQ(e.input_addr, 0x1000ull);
    EXPECT_EQ(e.ipa, 0x0000000012345678ull);
    EXPECT_STREQ(event_name(e.type), "F_PERMISSION");
    EXPECT_STREQ(event_name(evt::C_BAD_STE), "C_BAD_STE");
    EXPECT_STREQ(event_name(0xE3), "IMPDEF_EVENT");
    EXPECT_STREQ(event_name(0x77), "UNKNOWN_EVENT");
}

TEST(Smmuv3Pri, PageRequestEntry) {
    PriEntry p;
    p.sid = 0x100;
    p.ssid = 7;
    p.ssv = true;
    p.read = true;
    p.write = true;
    p.last = true;
    p.prg_index = 0x12;
    p.addr = 0x7F001000;
    uint64_t w[2];
    encode(p, w);
    EXPECT_EQ(w[0], 0xF000000700000100ull);  // SID | SSID<<32 | Read 60 | Write 61 | Last 62 | SSV 63
    EXPECT_EQ(w[1], 0x000000007F001012ull);
    EXPECT_EQ(decode_pri(w), p);
}
