// Does l1ml's hls4mlEmulator.h lay out hls4mlEmulator::Model as the upstream header does? Both headers go
// into this one translation unit, each in its own outer namespace; then
//   - each member's signature must be the same function type,
//   - each member's vtable slot (the Itanium ABI's pointer-to-member value) must be the same,
//   - an object built against l1ml's header, called through the upstream class (as CMSSW calls a library
//     built by l1ml), must run the member called, destructor included.
// Prints one line per check and exits 1 on any difference.
#include <any>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

namespace upstream {
#include "upstream_model.h"
}
namespace ours {
#include L1ML_HEADER
}

template <class T> struct Fn;
template <class R, class C, class... A> struct Fn<R (C::*)(A...)> { typedef R type(A...); };

template <class P> static std::ptrdiff_t slot(P pmf) {
    static_assert(sizeof(P) == 2 * sizeof(std::ptrdiff_t), "Itanium ABI pointer to member function");
    std::ptrdiff_t rep[2];
    std::memcpy(rep, &pmf, sizeof rep);
    return rep[0] & 1 ? (rep[0] - 1) / std::ptrdiff_t(sizeof(void *)) : -1;  // odd: virtual, offset + 1
}

static std::string ran;
struct Probe final : ours::hls4mlEmulator::Model {
    void prepare_input(std::any) override { ran = "prepare_input"; }
    void predict() override { ran = "predict"; }
    void read_result(std::any) override { ran = "read_result"; }
    ~Probe() override { ran = "~Model"; }
};

static int bad = 0;
static void expect(bool ok, const char *what) {
    std::printf("%s %s\n", ok ? "same" : "DIFFERENT", what);
    bad += !ok;
}

#define MEMBER(m)                                                                                         \
    expect(std::is_same<Fn<decltype(&upstream::hls4mlEmulator::Model::m)>::type,                         \
                        Fn<decltype(&ours::hls4mlEmulator::Model::m)>::type>::value, "signature " #m);    \
    expect(slot(&upstream::hls4mlEmulator::Model::m) == slot(&ours::hls4mlEmulator::Model::m), "slot " #m)

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    MEMBER(prepare_input);
    MEMBER(predict);
    MEMBER(read_result);
    expect(std::has_virtual_destructor<ours::hls4mlEmulator::Model>::value, "virtual destructor");
    expect(std::is_abstract<ours::hls4mlEmulator::Model>::value &&
               sizeof(ours::hls4mlEmulator::Model) == sizeof(upstream::hls4mlEmulator::Model), "class size");
    if (bad) return 1;  // a wrong slot below would run the destructor in place of prepare_input
    // Called through the upstream class: each call must land on the member of that name.
    auto *m = reinterpret_cast<upstream::hls4mlEmulator::Model *>(static_cast<ours::hls4mlEmulator::Model *>(new Probe));
    int dummy = 0;
    m->prepare_input(std::any(&dummy));
    expect(ran == "prepare_input", ("call prepare_input ran " + ran).c_str());
    m->predict();
    expect(ran == "predict", ("call predict ran " + ran).c_str());
    m->read_result(std::any(&dummy));
    expect(ran == "read_result", ("call read_result ran " + ran).c_str());
    if (bad == 0) {
        delete m;
        expect(ran == "~Model", ("delete ran " + ran).c_str());
    }
    return bad ? 1 : 0;
}
