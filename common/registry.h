// Registry<T>: a name -> factory table that variants (kernels, CP methods) fill
// from a file-scope static in their own .cc. The table is a function-local static
// so initialisation order across translation units does not matter; targets that
// hold registrations are OBJECT libraries so the linker cannot drop them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/errors.h"

namespace cpb {

template <typename T>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  static Registry& instance() {
    static Registry registry;
    return registry;
  }

  // Returns true so it can initialise a file-scope static.
  bool add(const std::string& name, Factory factory) {
    CPB_CHECK(!factories_.count(name), "duplicate registration of '{}'", name);
    factories_[name] = std::move(factory);
    return true;
  }

  bool contains(const std::string& name) const { return factories_.count(name) != 0; }

  std::unique_ptr<T> create(const std::string& name) const {
    auto it = factories_.find(name);
    if (it == factories_.end())
      CPB_INPUT_ERROR("unknown {} '{}'; allowed: {}", T::kRegistryNoun, name,
                      fmt::join(names(), ", "));
    return it->second();
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, factory] : factories_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, Factory> factories_;
};

}  // namespace cpb
