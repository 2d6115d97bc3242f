// ITS command and table-entry encoders and decoders (formats in its_defs.h).
#include "models/irq/its_defs.h"

namespace iommusim::its {

void encode(const Cmd& c, uint64_t raw[4]) {
  raw[0] = cmdf::OPCODE.make(c.opcode) | cmdf::DEVICE_ID.make(c.device_id);
  raw[1] = cmdf::EVENT_ID.make(c.event_id);
  raw[2] = 0;
  raw[3] = 0;
  switch (c.opcode) {
    case op::MAPD:
      raw[1] = cmdf::SIZE.make(c.size);
      raw[2] = cmdf::ITT_ADDR.make(c.itt_addr >> 8) | (c.valid ? cmdf::VALID : 0);
      break;
    case op::MAPC:
      raw[0] = cmdf::OPCODE.make(c.opcode);
      raw[1] = 0;
      raw[2] = cmdf::ICID.make(c.icid) | cmdf::RDBASE.make(c.rdbase) | (c.valid ? cmdf::VALID : 0);
      break;
    case op::MAPTI:
      raw[1] |= cmdf::PINTID.make(c.pintid);
      raw[2] = cmdf::ICID.make(c.icid);
      break;
    case op::MAPI:
    case op::MOVI:
      raw[2] = cmdf::ICID.make(c.icid);
      break;
    case op::INVALL:
      raw[0] = cmdf::OPCODE.make(c.opcode);
      raw[1] = 0;
      raw[2] = cmdf::ICID.make(c.icid);
      break;
    case op::SYNC:
      raw[0] = cmdf::OPCODE.make(c.opcode);
      raw[1] = 0;
      raw[2] = cmdf::RDBASE.make(c.rdbase);
      break;
    default: break;  // INT, CLEAR, INV, DISCARD: DeviceID and EventID only
  }
}

Cmd decode_cmd(const uint64_t raw[4]) {
  Cmd c;
  c.opcode = static_cast<uint8_t>(cmdf::OPCODE.get(raw[0]));
  c.device_id = static_cast<uint32_t>(cmdf::DEVICE_ID.get(raw[0]));
  c.event_id = static_cast<uint32_t>(cmdf::EVENT_ID.get(raw[1]));
  c.pintid = static_cast<uint32_t>(cmdf::PINTID.get(raw[1]));
  c.size = static_cast<uint8_t>(cmdf::SIZE.get(raw[1]));
  c.icid = static_cast<uint16_t>(cmdf::ICID.get(raw[2]));
  c.itt_addr = cmdf::ITT_ADDR.get(raw[2]) << 8;
  c.rdbase = cmdf::RDBASE.get(raw[2]);
  c.valid = raw[2] & cmdf::VALID;
  return c;
}

const char* op_name(uint8_t opcode) {
  switch (opcode) {
    case op::MOVI: return "MOVI";
    case op::INT: return "INT";
    case op::CLEAR: return "CLEAR";
    case op::SYNC: return "SYNC";
    case op::MAPD: return "MAPD";
    case op::MAPC: return "MAPC";
    case op::MAPTI: return "MAPTI";
    case op::MAPI: return "MAPI";
    case op::INV: return "INV";
    case op::INVALL: return "INVALL";
    case op::MOVALL: return "MOVALL";
    case op::DISCARD: return "DISCARD";
    default: return "unknown";
  }
}

uint64_t encode(const Dte& e) {
  return (e.valid ? dte::V : 0) | dte::ITT.make(e.itt >> 8) | dte::SIZE.make(e.size);
}
uint64_t encode(const Ite& e) {
  return (e.valid ? ite::V | ite::PHYSICAL : 0) | ite::ICID.make(e.icid) | ite::PINTID.make(e.pintid);
}
uint64_t encode(const Cte& e) { return (e.valid ? cte::V : 0) | cte::TARGET.make(e.target); }

Dte decode_dte(uint64_t w) {
  return Dte{(w & dte::V) != 0, static_cast<uint8_t>(dte::SIZE.get(w)), dte::ITT.get(w) << 8};
}
Ite decode_ite(uint64_t w) {
  return Ite{(w & ite::V) != 0, static_cast<uint32_t>(ite::PINTID.get(w)), static_cast<uint16_t>(ite::ICID.get(w))};
}
Cte decode_cte(uint64_t w) { return Cte{(w & cte::V) != 0, static_cast<uint32_t>(cte::TARGET.get(w))}; }

}  // namespace iommusim::its
