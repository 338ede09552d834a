// benchmarks/deploy.py's timing host: loads an emulator library as CMSSW does (dlopen, RTLD_LOCAL) and
// times create_model/destroy_model, and the per-event call sequence with the model created once.
//   deploy_host LIB.so EVENTS.bin CYCLES SCORES.bin   (writes every event's score as float64)
// Compiled with -DMODEL_HEADER='"NAME.h"' -DMODEL_NS=NAME (the package's consumer header), it also times
// the firmware-type interface and requires its scores to equal the hardware-integer interface's.
#include <dlfcn.h>

#include <array>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "hls4mlEmulator.h"
#include "l1ml_result.h"
#ifdef MODEL_HEADER
#include MODEL_HEADER
#endif

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        std::fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    auto create = reinterpret_cast<hls4mlEmulator::Model *(*)()>(dlsym(h, "create_model"));
    auto destroy = reinterpret_cast<void (*)(hls4mlEmulator::Model *)>(dlsym(h, "destroy_model"));
    std::vector<std::array<std::int32_t, 57>> ev;
    FILE *f = std::fopen(argv[2], "rb");
    std::array<std::int32_t, 57> e;
    while (f && std::fread(e.data(), 4, 57, f) == 57) ev.push_back(e);
    if (f) std::fclose(f);
    const int cycles = std::atoi(argv[3]);
    using clk = std::chrono::steady_clock;
    auto t0 = clk::now();
    for (int i = 0; i < cycles; i++) destroy(create());
    double create_destroy_us = std::chrono::duration<double, std::micro>(clk::now() - t0).count() / cycles;

    hls4mlEmulator::Model *m = create();
    l1ml::Result r;
    std::vector<double> scores(ev.size());
    // CPU time as well as wall time: on a shared machine the wall clock counts other processes' turns.
    std::clock_t c0 = std::clock();
    t0 = clk::now();
    for (size_t i = 0; i < ev.size(); i++) {
        m->prepare_input(ev[i]);
        m->predict();
        m->read_result(&r);
        scores[i] = r.score;
    }
    double full_us = std::chrono::duration<double, std::micro>(clk::now() - t0).count() / ev.size();
    double full_cpu_us = 1e6 * double(std::clock() - c0) / CLOCKS_PER_SEC / ev.size();
#ifdef MODEL_HEADER
    // The firmware's interface (the default a CMSSW consumer calls): the consumer preprocesses into the
    // firmware's input type and reads the firmware's output types.
    std::vector<double> fw_scores(ev.size());
    c0 = std::clock();
    for (size_t i = 0; i < ev.size(); i++) {
        MODEL_NS::input_t x[MODEL_NS::kInputs];
        MODEL_NS::preprocess(ev[i].data(), x);
        MODEL_NS::result_t res;
        m->prepare_input(x);
        m->predict();
        m->read_result(&res);
        fw_scores[i] = double(MODEL_NS::score_bits(res)) / double(1LL << MODEL_NS::kScoreFracBits);
    }
    double fw_cpu_us = 1e6 * double(std::clock() - c0) / CLOCKS_PER_SEC / ev.size();
    if (fw_scores != scores) {
        std::fprintf(stderr, "the two interfaces gave different scores\n");
        return 1;
    }
#else
    double fw_cpu_us = -1;
#endif
    t0 = clk::now();
    for (size_t i = 0; i < ev.size(); i++) m->predict();
    double predict_us = std::chrono::duration<double, std::micro>(clk::now() - t0).count() / ev.size();
    destroy(m);
    dlclose(h);
    FILE *o = std::fopen(argv[4], "wb");
    if (!o) return 2;
    std::fwrite(scores.data(), sizeof(double), scores.size(), o);
    std::fclose(o);
    std::printf("create_destroy_us %.4f per_event_us %.4f per_event_cpu_us %.4f predict_only_us %.4f "
                "firmware_interface_cpu_us %.4f events %zu\n",
                create_destroy_us, full_us, full_cpu_us, predict_us, fw_cpu_us, ev.size());
    return 0;
}
