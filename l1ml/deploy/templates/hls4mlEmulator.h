// The emulator-library interface CMSSW loads (hls4mlEmulator::Model), written for l1ml from its public
// description: an abstract model with prepare_input / predict / read_result and a virtual destructor.
// A library exports two C factories, create_model() and destroy_model(); everything else stays hidden.
//
// The member order is part of the ABI: virtual functions take vtable slots in declaration order, and
// CMSSW calls through hls4mlEmulatorExtras' header, which declares prepare_input, predict, read_result and
// then the destructor. A library built with another order runs the wrong function on every call (with the
// destructor first, prepare_input destroyed the object). tests/deploy/test_cmssw_abi.py compiles this
// header beside an independently written upstream-order one and compares every slot and signature.
#ifndef HLS4MLEMULATOR_MODEL_H_
#define HLS4MLEMULATOR_MODEL_H_

#include <any>

namespace hls4mlEmulator {

class Model {
  public:
    // Takes the event's inputs (see metadata.json "interfaces" for the accepted types).
    virtual void prepare_input(std::any input) = 0;
    // Runs the firmware's arithmetic on the prepared input.
    virtual void predict() = 0;
    // Writes the outputs into the object the std::any points to (see metadata.json "interfaces").
    virtual void read_result(std::any result) = 0;
    virtual ~Model() = default;
};

}  // namespace hls4mlEmulator

#endif
