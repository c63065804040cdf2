"""Independent numpy references of the foundation's equations, for the layer tests."""

import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def expert_bank(bank, x):
    """Each expert e as its own MLP: h = relu(h @ K_l[e] + b_l[e]); x is [B, D] or [B, E, D]."""
    outs = []
    for e in range(bank.num_experts):
        h = x if x.ndim == 2 else x[:, e]
        for k, b in zip(bank.kernels, bank.biases):
            h = relu(h @ np.asarray(k)[e] + np.asarray(b)[e])
        outs.append(h)
    return np.stack(outs, axis=1)


def gate(g, x):
    return softmax(x @ np.asarray(g.kernel) + np.asarray(g.bias))


def mix(w, experts):
    return np.einsum("be,beu->bu", w, experts)


def cgc(layer, task_views, shared_view):
    """PLE eq 2-5 (+ eq 6's shared module when shared_output)."""
    t, m_t = layer.num_outputs, layer.num_task_experts
    outs, gates = [], []
    shared_e = expert_bank(layer.shared_experts, shared_view) if layer.shared_experts else None
    task_e = []
    for k in range(t):
        if m_t:
            full = expert_bank(layer.task_experts, task_views[k])
            task_e.append(full[:, k * m_t : (k + 1) * m_t])
    for k in range(t):
        parts = ([task_e[k]] if m_t else []) + ([shared_e] if shared_e is not None else [])
        w = gate(layer.task_gates[k], task_views[k])
        outs.append(mix(w, np.concatenate(parts, axis=1)))
        gates.append(w)
    if layer.shared_output:
        parts = (task_e if m_t else []) + ([shared_e] if shared_e is not None else [])
        w = gate(layer.shared_gate, shared_view)
        outs.append(mix(w, np.concatenate(parts, axis=1)))
        gates.append(w)
    return outs, gates
