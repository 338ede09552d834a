// A small CMSSW-like host for the deploy tests: loads emulator libraries with dlopen(RTLD_LAZY|RTLD_LOCAL)
// as CMSSW's loader does, and runs them on events of hardware integers (int32, 57 per event, raw file).
//   host run  EVENTS.bin OUT_PREFIX LIB.so [LIB.so ...]   both libraries loaded before either runs; for
//             each library i writes OUT_PREFIX.i.bin: per event its output bits then its trigger bits
//   host cycle EVENTS.bin LIB.so N                        create/predict/destroy N times, dlopen/dlclose
//             cycles, a close while a model is alive; prints heap growth; exit 1 on any difference
#include <dlfcn.h>
#include <malloc.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hls4mlEmulator.h"
#include "l1ml_result.h"

typedef hls4mlEmulator::Model *(*create_t)();
typedef void (*destroy_t)(hls4mlEmulator::Model *);

struct Lib {
    void *handle;
    create_t create;
    destroy_t destroy;
};

static Lib open_lib(const char *path) {
    Lib l;
    l.handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (!l.handle) {
        std::fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        std::exit(2);
    }
    l.create = reinterpret_cast<create_t>(dlsym(l.handle, "create_model"));
    l.destroy = reinterpret_cast<destroy_t>(dlsym(l.handle, "destroy_model"));
    if (!l.create || !l.destroy) {
        std::fprintf(stderr, "%s: no create_model/destroy_model\n", path);
        std::exit(2);
    }
    return l;
}

static std::vector<std::array<std::int32_t, 57>> read_events(const char *path) {
    FILE *f = std::fopen(path, "rb");
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", path);
        std::exit(2);
    }
    std::vector<std::array<std::int32_t, 57>> ev;
    std::array<std::int32_t, 57> e;
    while (std::fread(e.data(), sizeof(std::int32_t), 57, f) == 57) ev.push_back(e);
    std::fclose(f);
    return ev;
}

static std::vector<std::int64_t> run(hls4mlEmulator::Model *m, const std::array<std::int32_t, 57> &e) {
    l1ml::Result r;
    m->prepare_input(e);
    m->predict();
    m->read_result(&r);
    std::vector<std::int64_t> v(r.output_bits);
    for (int t : r.triggered) v.push_back(t);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    std::string mode = argv[1];
    auto events = read_events(argv[2]);
    if (mode == "run") {
        std::vector<Lib> libs;
        std::vector<hls4mlEmulator::Model *> models;
        for (int i = 4; i < argc; i++) libs.push_back(open_lib(argv[i]));
        for (auto &l : libs) models.push_back(l.create());
        std::vector<FILE *> outs;
        for (size_t i = 0; i < libs.size(); i++)
            outs.push_back(std::fopen((std::string(argv[3]) + "." + std::to_string(i) + ".bin").c_str(), "wb"));
        for (auto &e : events)  // interleaved: every library on an event before the next event
            for (size_t i = 0; i < libs.size(); i++) {
                auto v = run(models[i], e);
                std::fwrite(v.data(), sizeof(std::int64_t), v.size(), outs[i]);
            }
        for (size_t i = 0; i < libs.size(); i++) {
            std::fclose(outs[i]);
            libs[i].destroy(models[i]);
            dlclose(libs[i].handle);
        }
        std::printf("ran %zu events through %zu libraries\n", events.size(), libs.size());
        return 0;
    }
    if (mode == "cycle") {
        const char *path = argv[3];
        const int n = std::atoi(argv[4]);
        const size_t k = events.size() < 50 ? events.size() : 50;
        Lib l = open_lib(path);
        hls4mlEmulator::Model *ref_model = l.create();
        std::vector<std::vector<std::int64_t>> ref;
        for (size_t i = 0; i < k; i++) ref.push_back(run(ref_model, events[i]));
        long bad = 0;
        auto check = [&](hls4mlEmulator::Model *m) {
            for (size_t i = 0; i < k; i++)
                if (run(m, events[i]) != ref[i]) bad++;
        };
        // A leak grows with the number of cycles; one-off lazy allocations (the C++ runtime's) do not.
        // So the heap is compared between the middle and the end of the cycles.
        auto cycle = [&]() {
            auto *a = l.create();
            auto *b = l.create();  // two live instances of one library must not share state
            check(a);
            check(b);
            l.destroy(a);
            check(b);
            l.destroy(b);
        };
        for (int c = 0; c < n / 2; c++) cycle();
        size_t heap0 = mallinfo2().uordblks;
        for (int c = n / 2; c < n; c++) cycle();
        size_t heap1 = mallinfo2().uordblks;
        // Early-unload guard: a second dlopen of a loaded library shares it; closing one handle while a
        // model lives must not unload the code under it.
        void *again = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
        auto *live = reinterpret_cast<create_t>(dlsym(again, "create_model"))();
        dlclose(again);
        check(live);
        l.destroy(live);
        l.destroy(ref_model);
        dlclose(l.handle);
        const bool unloaded = dlopen(path, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD) == nullptr;
        // Reload after a real unload: the same outputs again.
        size_t reloads = 0;
        for (int c = 0; c < 20; c++) {
            Lib r = open_lib(path);
            auto *m = r.create();
            check(m);
            r.destroy(m);
            dlclose(r.handle);
            reloads++;
        }
        std::printf("cycles %d mismatches %ld heap_growth %ld unloaded %d reloads %zu\n", n, bad,
                    (long)heap1 - (long)heap0, unloaded ? 1 : 0, reloads);
        return bad ? 1 : 0;
    }
    return 2;
}
