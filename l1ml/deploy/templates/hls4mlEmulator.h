// The emulator-library interface CMSSW loads (hls4mlEmulator::Model), written for l1ml from its public
// description: an abstract model with prepare_input / predict / read_result and a virtual destructor.
// A library exports two C factories, create_model() and destroy_model(); everything else stays hidden.
#ifndef HLS4MLEMULATOR_MODEL_H_
#define HLS4MLEMULATOR_MODEL_H_

#include <any>

namespace hls4mlEmulator {

class Model {
  public:
    virtual ~Model() = default;
    // Takes the event's inputs (see metadata.json "input" for the accepted types and their order).
    virtual void prepare_input(std::any input) = 0;
    // Runs the firmware's arithmetic on the prepared input.
    virtual void predict() = 0;
    // Writes the outputs into the object the std::any points to (see metadata.json "output").
    virtual void read_result(std::any result) = 0;
};

}  // namespace hls4mlEmulator

#endif
