// benchmarks/streaming.py's baseline: hls4ml's compiled C simulation library (the generated firmware's
// C++, built by g++ through hls_model.compile()), called once per event from a C++ loop, as a consumer of
// the firmware code that takes events one at a time would (hls4ml's own predict does the same from Python).
//   firmware_loop LIB.so SYMBOL INPUTS.bin N_IN SCORES.bin OUT_SIZE...
// INPUTS.bin: float64 rows of N_IN; the function takes (in, out_1, ..., out_k) as double arrays, k = 1..3.
// Writes the last output's first value per event (the score) to SCORES.bin; prints "events N wall S cpu C".
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

int main(int argc, char **argv) {
    if (argc < 7 || argc > 9) {
        std::fprintf(stderr, "usage: firmware_loop LIB.so SYMBOL INPUTS.bin N_IN SCORES.bin OUT_SIZE...\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        std::fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    void *fn = dlsym(h, argv[2]);
    if (!fn) {
        std::fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    const long n_in = std::atol(argv[4]);
    std::vector<double> in;
    FILE *f = std::fopen(argv[3], "rb");
    if (!f || n_in <= 0) return 2;
    std::vector<double> row(n_in);
    while (std::fread(row.data(), sizeof(double), n_in, f) == size_t(n_in)) in.insert(in.end(), row.begin(), row.end());
    std::fclose(f);
    const long events = long(in.size()) / n_in;
    const int k = argc - 6;
    std::vector<std::vector<double>> out;
    for (int i = 0; i < k; i++) out.emplace_back(std::atol(argv[6 + i]));
    std::vector<double> scores(events);
    using clk = std::chrono::steady_clock;
    const std::clock_t c0 = std::clock();
    const auto t0 = clk::now();
    for (long e = 0; e < events; e++) {
        double *x = in.data() + e * n_in;
        if (k == 1) reinterpret_cast<void (*)(double *, double *)>(fn)(x, out[0].data());
        if (k == 2) reinterpret_cast<void (*)(double *, double *, double *)>(fn)(x, out[0].data(), out[1].data());
        if (k == 3)
            reinterpret_cast<void (*)(double *, double *, double *, double *)>(fn)(x, out[0].data(), out[1].data(),
                                                                                 out[2].data());
        scores[e] = out[k - 1][0];
    }
    const double wall = std::chrono::duration<double>(clk::now() - t0).count();
    const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
    FILE *s = std::fopen(argv[5], "wb");
    if (!s || std::fwrite(scores.data(), sizeof(double), events, s) != size_t(events)) return 3;
    std::fclose(s);
    std::printf("events %ld wall %.6f cpu %.6f\n", events, wall, cpu);
    return 0;
}
