// A loader for emulator libraries, written for l1ml from the public description of CMSSW's
// hls4mlEmulator::ModelLoader (hls4mlEmulatorExtras), for programs outside CMSSW: make check, the consumer
// example. It opens NAME + ".so" with dlopen(RTLD_LAZY | RTLD_LOCAL), so a bare NAME is looked up on the
// library path (LD_LIBRARY_PATH), takes the library's create_model and destroy_model, and hands out each
// model in a std::shared_ptr whose deleter calls destroy_model. Every model also holds the library handle,
// so the library is closed only after the loader and its last model are both gone.
#ifndef L1ML_LOADER_H_
#define L1ML_LOADER_H_

#include <dlfcn.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "hls4mlEmulator.h"

namespace l1ml {

class ModelLoader {
  public:
    explicit ModelLoader(const std::string &name) : name_(name) {
        void *h = dlopen((name + ".so").c_str(), RTLD_LAZY | RTLD_LOCAL);
        if (!h) throw std::runtime_error("cannot load " + name + ".so: " + dlerror());
        handle_ = std::shared_ptr<void>(h, [](void *p) { dlclose(p); });
        create_ = reinterpret_cast<Create>(dlsym(h, "create_model"));
        destroy_ = reinterpret_cast<Destroy>(dlsym(h, "destroy_model"));
        if (!create_ || !destroy_) throw std::runtime_error(name + ".so does not export create_model/destroy_model");
    }

    std::shared_ptr<hls4mlEmulator::Model> load_model() const {
        auto handle = handle_;
        auto destroy = destroy_;
        return std::shared_ptr<hls4mlEmulator::Model>(
            create_(), [handle, destroy](hls4mlEmulator::Model *m) { destroy(m); });
    }

    const std::string &name() const { return name_; }

  private:
    typedef hls4mlEmulator::Model *(*Create)();
    typedef void (*Destroy)(hls4mlEmulator::Model *);
    std::string name_;
    std::shared_ptr<void> handle_;
    Create create_ = nullptr;
    Destroy destroy_ = nullptr;
};

}  // namespace l1ml

#endif
