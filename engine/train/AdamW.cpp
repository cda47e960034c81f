#include "train/AdamW.h"

#include <cmath>
#include <stdexcept>

namespace tb {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, Options options)
    : m_params(std::move(params)), m_options(options)
{
    for (const auto& [name, p] : m_params) {
        m_expAvg.push_back(at::zeros(p.sizes(), p.options().dtype(at::kFloat)));
        m_expAvgSq.push_back(at::zeros(p.sizes(), p.options().dtype(at::kFloat)));
    }
}

void AdamW::step(double lr)
{
    at::NoGradGuard noGrad;
    ++m_step;
    const double b1 = m_options.beta1, b2 = m_options.beta2;
    const double correction1 = 1.0 - std::pow(b1, static_cast<double>(m_step));
    const double correction2 = 1.0 - std::pow(b2, static_cast<double>(m_step));
    for (size_t i = 0; i < m_params.size(); ++i) {
        at::Tensor& p = m_params[i].second;
        const at::Tensor& grad = p.grad();
        if (!grad.defined())
            continue;
        const at::Tensor g = grad.to(at::kFloat);
        at::Tensor master = p.scalar_type() == at::kFloat ? p : p.to(at::kFloat);
        if (m_options.weightDecay != 0.0)
            master.mul_(1.0 - lr * m_options.weightDecay);
        m_expAvg[i].mul_(b1).add_(g, 1.0 - b1);
        m_expAvgSq[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
        const at::Tensor denom = (m_expAvgSq[i] / correction2).sqrt_().add_(m_options.eps);
        master.addcdiv_(m_expAvg[i], denom, -lr / correction1);
        if (p.scalar_type() != at::kFloat)
            p.copy_(master);
    }
}

void AdamW::zeroGrad()
{
    for (auto& [name, p] : m_params)
        if (p.grad().defined())
            p.mutable_grad() = at::Tensor();
}

int64_t AdamW::stateBytes() const
{
    int64_t bytes = 0;
    for (size_t i = 0; i < m_expAvg.size(); ++i)
        bytes += (m_expAvg[i].numel() + m_expAvgSq[i].numel()) * 4;
    return bytes;
}

std::map<std::string, at::Tensor> AdamW::stateTensors() const
{
    std::map<std::string, at::Tensor> out;
    for (size_t i = 0; i < m_params.size(); ++i) {
        out["exp_avg." + m_params[i].first] = m_expAvg[i].to(at::kCPU);
        out["exp_avg_sq." + m_params[i].first] = m_expAvgSq[i].to(at::kCPU);
    }
    return out;
}

void AdamW::loadState(const std::map<std::string, at::Tensor>& state, int64_t stepCount)
{
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < m_params.size(); ++i) {
        for (auto [prefix, target] : {std::pair<const char*, at::Tensor*>{"exp_avg.", &m_expAvg[i]}, {"exp_avg_sq.", &m_expAvgSq[i]}}) {
            auto it = state.find(prefix + m_params[i].first);
            if (it == state.end())
                throw std::invalid_argument(std::string("optimizer state lacks ") + prefix + m_params[i].first);
            if (it->second.sizes() != target->sizes())
                throw std::invalid_argument(std::string("optimizer state ") + prefix + m_params[i].first + " has the wrong shape");
            target->copy_(it->second);
        }
    }
    m_step = stepCount;
}

double learningRateAt(int64_t step, int64_t total, int64_t warmup, double peak, const std::string& schedule)
{
    if (warmup > 0 && step < warmup)
        return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
    if (schedule == "constant" || total <= warmup)
        return peak;
    const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    if (schedule == "linear")
        return peak * std::max(0.0, 1.0 - progress);
    if (schedule == "cosine")
        return peak * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
    throw std::invalid_argument("unknown schedule \"" + schedule + "\"");
}

} // namespace tb
