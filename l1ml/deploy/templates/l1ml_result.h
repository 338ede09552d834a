// What an l1ml emulator library's read_result() fills: pass a pointer, `model->read_result(&result)`.
// The *_bits fields hold the ap_fixed bit patterns as signed integers: the numbers the firmware compares.
// The double fields are the same values (exact while |bits| < 2^53, as for l1ml's own emulator).
#ifndef L1ML_RESULT_H_
#define L1ML_RESULT_H_

#include <cstdint>
#include <vector>

namespace l1ml {

struct Result {
    double score = 0;                  // the on-chip score (the firmware's last output)
    std::int64_t score_bits = 0;       // its ap_fixed bits: score = score_bits * 2^-score_frac_bits
    std::vector<double> outputs;       // every firmware output, flattened in metadata.json order
    std::vector<std::int64_t> output_bits;
    std::vector<int> triggered;        // one per metadata.json threshold: score_bits > threshold_int
};

}  // namespace l1ml

#endif
