// AdamW (Loshchilov & Hutter 2019) with fp32 state, as torch.optim.AdamW computes it:
//   p -= lr * wd * p
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// Written here rather than taken from torch::optim so its state is plain named tensors that a
// checkpoint stores in safetensors (no pickle), and so every byte of state is accounted for.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace tb {

class AdamW {
public:
    struct Options {
        double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
    };

    // params: the trainable parameters by name (their order fixes the state's layout).
    AdamW(std::vector<std::pair<std::string, at::Tensor>> params, Options options);

    void step(double learningRate); // parameters without a gradient are skipped
    void zeroGrad();

    int64_t stepCount() const { return m_step; }
    int64_t stateBytes() const;

    // "exp_avg.<name>", "exp_avg_sq.<name>" -> tensors (CPU copies), and back.
    std::map<std::string, at::Tensor> stateTensors() const;
    void loadState(const std::map<std::string, at::Tensor>& state, int64_t stepCount);

    const std::vector<std::pair<std::string, at::Tensor>>& params() const { return m_params; }

private:
    std::vector<std::pair<std::string, at::Tensor>> m_params;
    std::vector<at::Tensor> m_expAvg, m_expAvgSq;
    Options m_options;
    int64_t m_step = 0;
};

// Learning rate at an optimizer step (0-based): linear warmup from 0 over `warmup` steps,
// then constant, linear decay to 0, or cosine decay to 0 at `total` (transformers'
// get_cosine_schedule_with_warmup with half a cycle).
double learningRateAt(int64_t step, int64_t total, int64_t warmup, double peak, const std::string& schedule);

} // namespace tb
