// Registry of model types: type name -> kind, description, parameter struct and factory.
// Models never see this; platforms/types.cpp registers each model once.
#pragma once
#include <systemc>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/common/params.h"

namespace iommusim {

// Where a section of the config lives and which structural keys it has (see docs/config.md).
enum class Kind { Memory, Iommu, RootPort, Endpoint, Host, Workload, Interrupts, IrqChip };
const char* kind_name(Kind k);

// Type-erased parameter struct: a model's Params plus the visit() the config reader drives.
struct ParamsBase {
  virtual ~ParamsBase() = default;
  virtual void visit(ParamVisitor& v) = 0;
  virtual std::unique_ptr<ParamsBase> clone() const = 0;
};

template <class P>
struct ParamsOf final : ParamsBase {
  P p;
  void visit(ParamVisitor& v) override { p.visit(v); }
  std::unique_ptr<ParamsBase> clone() const override { return std::make_unique<ParamsOf<P>>(*this); }
};

template <class P>
const P& params_as(const ParamsBase& b) {
  return static_cast<const ParamsOf<P>&>(b).p;
}

struct ModelType {
  std::string name;
  Kind kind;
  std::string desc;
  std::function<std::unique_ptr<ParamsBase>()> make_params;
  // Builds the model with its per-run seed; empty for kinds that are not modules (workloads).
  std::function<sc_core::sc_module*(const char* inst_name, const ParamsBase&, uint64_t seed)> create;
};

class Registry {
 public:
  template <class P>
  void add(std::string name, Kind kind, std::string desc,
           std::function<sc_core::sc_module*(const char*, const P&, uint64_t)> create = {}) {
    ModelType t{std::move(name), kind, std::move(desc), [] { return std::make_unique<ParamsOf<P>>(); }, {}};
    if (create)
      t.create = [create](const char* n, const ParamsBase& b, uint64_t seed) { return create(n, params_as<P>(b), seed); };
    types_.emplace(t.name, std::move(t));
  }
  const ModelType* find(const std::string& name) const {
    auto it = types_.find(name);
    return it == types_.end() ? nullptr : &it->second;
  }
  std::vector<const ModelType*> of_kind(Kind k) const {
    std::vector<const ModelType*> r;
    for (const auto& [n, t] : types_)
      if (t.kind == k) r.push_back(&t);
    return r;
  }
  const std::map<std::string, ModelType>& all() const { return types_; }

 private:
  std::map<std::string, ModelType> types_;
};

// The registry with every shipped model type (platforms/types.cpp).
const Registry& default_registry();

}  // namespace iommusim
