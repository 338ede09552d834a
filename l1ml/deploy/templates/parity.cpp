// make check: the parity vectors through the library, loaded as CMSSW loads it (dlopen, RTLD_LOCAL).
// inputs.txt: one event per line, the hardware integers. expected.txt: one event per line, the bits of
// every output (metadata.json order) then one 0/1 per threshold. Any difference fails, naming the event.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hls4mlEmulator.h"
#include "l1ml_result.h"

template <class T> static std::vector<std::vector<T>> read_rows(const char *path) {
    std::ifstream f(path);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", path);
        std::exit(2);
    }
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

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s LIB.so inputs.txt expected.txt\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    auto create = reinterpret_cast<hls4mlEmulator::Model *(*)()>(dlsym(lib, "create_model"));
    auto destroy = reinterpret_cast<void (*)(hls4mlEmulator::Model *)>(dlsym(lib, "destroy_model"));
    if (!create || !destroy) {
        std::fprintf(stderr, "%s does not export create_model/destroy_model\n", argv[1]);
        return 2;
    }
    auto inputs = read_rows<std::int32_t>(argv[2]);
    auto expected = read_rows<std::int64_t>(argv[3]);
    if (inputs.size() != expected.size() || inputs.empty()) {
        std::fprintf(stderr, "%zu input rows but %zu expected rows\n", inputs.size(), expected.size());
        return 2;
    }
    hls4mlEmulator::Model *model = create();
    l1ml::Result r;
    long bad = 0, values = 0;
    for (size_t e = 0; e < inputs.size(); e++) {
        model->prepare_input(inputs[e]);
        model->predict();
        model->read_result(&r);
        std::vector<std::int64_t> got(r.output_bits);
        for (int t : r.triggered) got.push_back(t);
        if (got.size() != expected[e].size()) {
            std::fprintf(stderr, "event %zu: %zu values, expected %zu\n", e, got.size(), expected[e].size());
            return 1;
        }
        for (size_t i = 0; i < got.size(); i++) {
            values++;
            if (got[i] != expected[e][i] && bad++ < 10)
                std::fprintf(stderr, "event %zu value %zu: library %lld, l1ml emulator %lld\n", e, i,
                             (long long)got[i], (long long)expected[e][i]);
        }
    }
    destroy(model);
    dlclose(lib);
    if (bad) {
        std::printf("parity FAILED: %ld of %ld values differ over %zu events\n", bad, values, inputs.size());
        return 1;
    }
    std::printf("parity OK: %zu events, %ld values, all bit-identical\n", inputs.size(), values);
    return 0;
}
