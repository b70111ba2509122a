"""Luong-style global attention for recurrent decoders (Luong, Pham & Manning 2015, §3.1).

With ``h_t`` the top decoder layer's hidden state and ``h̄_s`` the encoder outputs:

    score(h_t, h̄_s) = h_t · h̄_s                      'dot'     (needs equal sizes)
                    = h_t · W_a h̄_s                  'general'
                    = v_a · tanh(W_a [h_t; h̄_s])     'concat'
    a_t  = softmax_s score(h_t, h̄_s)                 (source pads excluded)
    c_t  = Σ_s a_ts h̄_s
    h~_t = tanh(W_c [c_t; h_t])                      the attentional hidden state (eq. 5)

Everything that depends on the source only is computed once per sentence by
:meth:`GlobalAttention.prepare`: the keys (``W_a h̄_s`` for 'general') and the values, which are the
encoder outputs already multiplied by the context half of ``W_c`` (``W_c [c; h] = W_cc c + W_ch h``
and ``W_cc c_t = Σ_s a_ts W_cc h̄_s``). A decoder step is then two batched matrix products, a
softmax and one small linear map.

Parameter names and shapes follow fairseq's ``lstm`` ``AttentionLayer`` where they exist:
``input_proj`` (W_a of 'general', as (source_dim, query_dim)) and ``output_proj`` (W_c, no bias).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.errors import NmtError
from nmt.modules.linear import Linear, linear

SCORES = ("dot", "general", "concat")


def attention_bias(pad_mask: Tensor) -> Tensor:
    """An additive float32 mask (B, 1, S) from pad_mask (B, S) (True at pads): 0 or −inf."""
    bias = torch.zeros(pad_mask.shape, dtype=torch.float32, device=pad_mask.device)
    return bias.masked_fill_(pad_mask, float("-inf")).unsqueeze(1)


def _uniform_linear(in_features: int, out_features: int, bias: bool, scale: float) -> nn.Linear:
    m = Linear(in_features, out_features, bias=bias)
    nn.init.uniform_(m.weight, -scale, scale)
    if bias:
        nn.init.uniform_(m.bias, -scale, scale)
    return m


class GlobalAttention(nn.Module):
    """Global attention of a decoder state (B, T, query_dim) over encoder outputs
    (B, S, source_dim), giving the attentional hidden states h~ (B, T, query_dim).

    ``attention_dim`` is the width of the 'concat' score's hidden layer (default query_dim).
    Weights are initialised uniformly in [−init_scale, init_scale] (Luong et al. and fairseq: 0.1).
    """

    int8_exempt = ("input_proj", "output_proj", "v")  # read by weight (nmt.modules.int8)

    def __init__(self, query_dim: int, source_dim: int, *, score: str = "general",
                 attention_dim: int | None = None, init_scale: float = 0.1):
        super().__init__()
        if score not in SCORES:
            raise NmtError(f"unknown attention score {score!r}; choose one of {', '.join(SCORES)}")
        if score == "dot" and query_dim != source_dim:
            raise NmtError(f"'dot' attention needs the decoder hidden size ({query_dim}) to equal "
                           f"the encoder output size ({source_dim}); use 'general'")
        self.score, self.source_dim = score, source_dim
        if score == "general":
            self.input_proj = _uniform_linear(query_dim, source_dim, False, init_scale)
        elif score == "concat":
            dim = attention_dim or query_dim
            self.query_proj = _uniform_linear(query_dim, dim, True, init_scale)
            self.key_proj = _uniform_linear(source_dim, dim, False, init_scale)
            self.v = _uniform_linear(dim, 1, False, init_scale)
        self.output_proj = _uniform_linear(source_dim + query_dim, query_dim, False, init_scale)

    def prepare(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """The step-independent parts from the encoder outputs source (B, S, source_dim):
        keys (B, K, S), transposed and contiguous so that a step's score is a plain batched
        product and its gradient accumulates contiguously, and values W_cc h̄_s (B, S, query_dim)."""
        if self.score == "general":
            keys = torch.matmul(source, self.input_proj.weight)  # h̄_s W_a: (B, S, query_dim)
        elif self.score == "concat":
            keys = self.key_proj(source)  # (B, S, A)
        else:
            keys = source
        values = linear(source, self.output_proj.weight[:, : self.source_dim])
        return keys.transpose(1, 2).contiguous(), values

    def forward(self, query: Tensor, keys: Tensor, values: Tensor,
                bias: Tensor) -> tuple[Tensor, Tensor]:
        """query h_t (R, T, query_dim), keys and values from :meth:`prepare` (B sources), bias
        (B, 1, S) from :func:`attention_bias` -> (h~ (R, T, query_dim), attention a (R, T, S)).

        The R = B·w query rows are w consecutive rows per source (a beam search's hypotheses,
        w = 1 in training): a sentence's rows attend over its one copy of the source."""
        R, T, _ = query.shape
        query = query.reshape(values.size(0), -1, query.size(-1))  # (B, w·T, query_dim)
        if self.score == "concat":
            hidden = torch.tanh(keys.unsqueeze(1) + self.query_proj(query).unsqueeze(3))
            scores = torch.matmul(self.v.weight, hidden).squeeze(2)  # (B, wT, A, S) -> (B, wT, S)
        else:
            scores = torch.bmm(query, keys)  # (B, w·T, S)
        attn = F.softmax(scores.float() + bias, dim=-1).type_as(values)  # (B, w·T, S)
        own = linear(query, self.output_proj.weight[:, self.source_dim :])  # W_ch h_t
        out = torch.tanh(torch.baddbmm(own.type_as(values), attn, values))  # (B, w·T, query_dim)
        return out.reshape(R, T, -1), attn.reshape(R, T, -1)
