// The Model class as CMSSW's consumers see it, written for this test from the public description of
// cms-hls4ml/hls4mlEmulatorExtras' header (no code copied): the members in ITS order, prepare_input,
// predict, read_result, then the virtual destructor. Kept apart from l1ml's
// l1ml/deploy/templates/hls4mlEmulator.h on purpose: abi_check.cpp compares the two.
#ifndef UPSTREAM_HLS4MLEMULATOR_MODEL_H_
#define UPSTREAM_HLS4MLEMULATOR_MODEL_H_

#include <any>

namespace hls4mlEmulator {

class Model {
  public:
    virtual void prepare_input(std::any input) = 0;
    virtual void predict() = 0;
    virtual void read_result(std::any result) = 0;
    virtual ~Model() = default;
};

}  // namespace hls4mlEmulator

#endif
