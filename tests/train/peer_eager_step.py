#!/usr/bin/python3
"""The peer of `tunebench-cli bench`: the same LoRA training step written plainly in PyTorch
eager, as a CPU user would otherwise run it (Hugging Face-style Llama layers: eager attention
with the softmax in fp32, RMSNorm in fp32, SwiGLU; LoRA r on all seven projections with the
adapters cast to the activations' dtype; fp32 logits and cross-entropy; AdamW on the adapters).

Not a test: a benchmark for docs/measurements.md. Needs PyTorch for Python (Debian's
python3-torch); the weights are random with the model folder's shapes (speed does not depend
on their values).

    tests/train/peer_eager_step.py MODEL_DIR [--seq-len 512] [--batch-size 1] [--steps 5]
                                   [--rank 16] [--threads N] [--dtype bf16|fp32] [--json]
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F


class LoraLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, rank, alpha, dtype):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in, dtype=dtype) * 0.02, requires_grad=False)
        self.lora_A = torch.nn.Parameter(torch.randn(rank, n_in) / math.sqrt(n_in))
        self.lora_B = torch.nn.Parameter(torch.zeros(n_out, rank))
        self.scale = alpha / rank

    def forward(self, x):
        dtype = x.dtype
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.lora_A.to(dtype)), self.lora_B.to(dtype)) * self.scale


class RmsNorm(torch.nn.Module):
    def __init__(self, dim, eps, dtype):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim, dtype=dtype), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        xf = x.to(torch.float32)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, c, rank, dtype):
        super().__init__()
        h, d = c["hidden_size"], c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.nh, self.nkv, self.d = c["num_attention_heads"], c["num_key_value_heads"], d
        lin = lambda i, o: LoraLinear(i, o, rank, 2 * rank, dtype)
        self.q, self.k, self.v = lin(h, self.nh * d), lin(h, self.nkv * d), lin(h, self.nkv * d)
        self.o = lin(self.nh * d, h)
        self.gate, self.up, self.down = lin(h, c["intermediate_size"]), lin(h, c["intermediate_size"]), lin(c["intermediate_size"], h)
        self.n1, self.n2 = RmsNorm(h, c["rms_norm_eps"], dtype), RmsNorm(h, c["rms_norm_eps"], dtype)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        y = self.n1(x)
        q = self.q(y).view(b, t, self.nh, self.d).transpose(1, 2)
        k = self.k(y).view(b, t, self.nkv, self.d).transpose(1, 2)
        v = self.v(y).view(b, t, self.nkv, self.d).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.d) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o(a)
        y = self.n2(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class Model(torch.nn.Module):
    def __init__(self, c, rank, dtype):
        super().__init__()
        self.embed = torch.nn.Parameter(torch.randn(c["vocab_size"], c["hidden_size"], dtype=dtype) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList(Layer(c, rank, dtype) for _ in range(c["num_hidden_layers"]))
        self.norm = RmsNorm(c["hidden_size"], c["rms_norm_eps"], dtype)
        self.head = torch.nn.Parameter(torch.randn(c["vocab_size"], c["hidden_size"], dtype=dtype) * 0.02, requires_grad=False)
        d = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2).float() / d))
        self.dtype = dtype

    def forward(self, ids, targets):
        t = ids.shape[1]
        freqs = torch.outer(torch.arange(t).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        logits = F.linear(self.norm(x), self.head).float()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(os.path.join(a.model, "config.json")) as f:
        c = json.load(f)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    model = Model(c, a.rank, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, c["vocab_size"], (a.batch_size, a.seq_len))
    times = []
    for step in range(a.steps + 1):  # the first is a warm-up
        start = time.perf_counter()
        loss = model(ids, ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    result = {"peer": "pytorch eager", "torch": torch.__version__, "dtype": a.dtype, "threads": a.threads,
              "seq_len": a.seq_len, "batch_size": a.batch_size, "rank": a.rank,
              "median_step_seconds": median, "tokens_per_second": a.batch_size * a.seq_len / median}
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"PyTorch {torch.__version__} eager, {a.dtype}, {a.threads} threads, batch {a.batch_size} x {a.seq_len}: "
              f"median step {median:.3f} s, {result['tokens_per_second']:.0f} tokens/s")


if __name__ == "__main__":
    main()
