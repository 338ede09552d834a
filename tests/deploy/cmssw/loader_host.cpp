// An emulator library loaded the way CMSSW loads it, compiled against upstream_model.h (the upstream
// member order), not l1ml's header. Written for this test from the public description of
// hls4mlEmulatorExtras' ModelLoader (no code copied):
//   dlopen(name + ".so", RTLD_LAZY | RTLD_LOCAL) with a bare name found on the library path; dlsym of
//   create_model and destroy_model; each model in a std::shared_ptr whose deleter calls destroy_model.
// Like the loaders before hls4mlEmulatorExtras 1.1.7 (cmssw #49351), this loader's destructor closes the
// library whether or not a model from it is still alive.
//
//   loader_host NAME inputs.txt expected.txt N
// For N rounds in each of two orders, "after" (the models die, then the loader closes the library) and
// "before" (the loader closes the library while a model lives; that model is then used and dropped):
// load, run the parity vectors through both interfaces on two live models, destroy, and require the
// library to be unloaded at the end of the round (so the next round really reloads it). Then a
// std::any of a wrong type must give one std::runtime_error. Compiled with -DMODEL_HEADER and -DMODEL_NS.
#include <dlfcn.h>

#include <any>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "upstream_model.h"
#include "l1ml_result.h"
#include MODEL_HEADER

namespace api = MODEL_NS;

class ModelLoader {
  public:
    explicit ModelLoader(std::string name) : name_(std::move(name)) {
        handle_ = dlopen((name_ + ".so").c_str(), RTLD_LAZY | RTLD_LOCAL);
        if (!handle_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        create_ = reinterpret_cast<hls4mlEmulator::Model *(*)()>(dlsym(handle_, "create_model"));
        destroy_ = reinterpret_cast<void (*)(hls4mlEmulator::Model *)>(dlsym(handle_, "destroy_model"));
        if (!create_ || !destroy_) throw std::runtime_error(name_ + ".so: no create_model/destroy_model");
    }
    ~ModelLoader() { dlclose(handle_); }  // the early close: models may still be alive
    ModelLoader(const ModelLoader &) = delete;
    ModelLoader &operator=(const ModelLoader &) = delete;

    std::shared_ptr<hls4mlEmulator::Model> load_model() {
        auto destroy = destroy_;
        return std::shared_ptr<hls4mlEmulator::Model>(create_(), [destroy](hls4mlEmulator::Model *m) { destroy(m); });
    }

  private:
    std::string name_;
    void *handle_ = nullptr;
    hls4mlEmulator::Model *(*create_)() = nullptr;
    void (*destroy_)(hls4mlEmulator::Model *) = nullptr;
};

template <class T> static std::vector<std::vector<T>> read_rows(const char *path) {
    std::ifstream f(path);
    std::vector<std::vector<T>> rows;
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        std::vector<T> row;
        T v;
        while (s >> v) row.push_back(v);
        if (!row.empty()) rows.push_back(row);
    }
    return rows;
}

static std::vector<std::vector<std::int32_t>> inputs;
static std::vector<std::vector<std::int64_t>> expected;
static long values = 0, mismatches = 0;

static void check(const std::vector<std::int64_t> &got, size_t e) {
    values += got.size();
    if (got != expected[e]) mismatches++;
}

static void run_both(hls4mlEmulator::Model &m) {
    for (size_t e = 0; e < inputs.size(); e++) {
        // the firmware's interface: api::input_t* in, api::result_t* out
        api::input_t x[api::kInputs];
        api::preprocess(inputs[e].data(), x);
        api::result_t r;
        m.prepare_input(x);
        m.predict();
        m.read_result(&r);
        std::vector<std::int64_t> got = api::output_bits(r);
        for (int t = 0; t < api::kThresholds; t++) got.push_back(api::score_bits(r) > api::kThresholdBits[t]);
        check(got, e);
        // the same with every output as a std::array (as CICADA reads an array of one result)
        api::result_arrays_t ra;
        m.read_result(&ra);
        if (api::score_bits_of_arrays(ra) != api::score_bits(r)) mismatches++;
        // l1ml's hardware-integer interface
        std::array<std::int32_t, api::kInputs> hw;
        std::copy(inputs[e].begin(), inputs[e].end(), hw.begin());
        l1ml::Result lr;
        m.prepare_input(hw);
        m.predict();
        m.read_result(&lr);
        got = lr.output_bits;
        for (int t : lr.triggered) got.push_back(t);
        check(got, e);
    }
}

static bool loaded(const std::string &name) {
    void *h = dlopen((name + ".so").c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != nullptr;
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    const std::string name = argv[1];
    inputs = read_rows<std::int32_t>(argv[2]);
    expected = read_rows<std::int64_t>(argv[3]);
    const int n = std::atoi(argv[4]);
    if (inputs.empty() || inputs.size() != expected.size()) return 2;
    long rounds = 0, still_loaded = 0;
    for (const char *order : {"after", "before"}) {
        for (int i = 0; i < n; i++) {
            auto *loader = new ModelLoader(name);
            auto a = loader->load_model();
            auto b = loader->load_model();  // two live models of one library must not share state
            run_both(*a);
            run_both(*b);
            if (std::string(order) == "after") {
                a.reset();
                b.reset();
                delete loader;
            } else {
                a.reset();
                delete loader;  // dlclose while b lives (cmssw #49351)
                run_both(*b);   // the library must still be there
                b.reset();      // destroy_model runs in the library, which may then unload
            }
            still_loaded += loaded(name);
            rounds++;
        }
    }
    // A wrong type in the std::any: one std::runtime_error, naming the expected type.
    std::string input_error, result_error;
    {
        ModelLoader loader(name);
        auto m = loader.load_model();
        std::vector<float> wrong(api::kInputs, 0.f);
        try {
            m->prepare_input(wrong.data());
        } catch (const std::runtime_error &e) {
            input_error = e.what();
        }
        m->prepare_input(inputs[0].data());  // std::int32_t*: fine
        m->predict();
        std::pair<double, double> wrong_result;
        try {
            m->read_result(&wrong_result);
        } catch (const std::runtime_error &e) {
            result_error = e.what();
        }
    }
    std::printf("rounds %ld values %ld mismatches %ld still_loaded %ld\n", rounds, values, mismatches, still_loaded);
    std::printf("input_error %s\n", input_error.c_str());
    std::printf("result_error %s\n", result_error.c_str());
    return mismatches || still_loaded || input_error.empty() || result_error.empty() ? 1 : 0;
}
