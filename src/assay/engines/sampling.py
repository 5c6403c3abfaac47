"""One generation's sampling on llama.cpp's samplers, for the batched and the unbatched path.

The chain is the one llama-cpp-python's Llama.generate builds (penalties, then greedy, or
top-k, typical, top-p, min-p, temperature and a seeded draw). A grammar is not a link of the
chain: applied to every candidate, it walks the whole vocabulary at every step (measured on
2 cores: SmolLM2 decoded at 0.4x, Gemma 3 at 0.2x of its free speed). As llama.cpp's own
common sampler does, the chain draws a token first and the grammar only checks that one;
only when the grammar refuses it are all candidates filtered and the token drawn again.

While a generation is held (SamplingParams.min_tokens), the end-of-generation tokens' logits
are set to -inf in the row the chain reads, and put back once the token is drawn (log
probabilities stay those of the model's own distribution).
"""

from __future__ import annotations

import ctypes
import math
import random
import threading
from typing import Any

import numpy as np

from assay.engines.base import SamplingParams
from assay.errors import EngineError

# llama_token_data: {int32 id; float logit; float p}
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


def check_grammar(lib: Any, vocab: Any, grammar: str) -> None:
    """An EngineError unless llama.cpp parses GRAMMAR (GBNF with a 'root' rule)."""
    sampler = lib.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        raise EngineError("the grammar does not parse as GBNF (it needs a 'root' rule)")
    lib.llama_sampler_free(sampler)


class EndTokenIds:
    """A vocabulary's end-of-generation tokens (every one llama_vocab_is_eog names), found by
    one scan of the vocabulary the first time they are asked for, then kept: a model scans
    once, and only if a generation is ever held. The scan is a ctypes call a token: 60 ms
    for SmolLM2's 49k tokens, 280 ms for Gemma 3's 262k (measured on 2 busy cores)."""

    def __init__(self, lib: Any, vocab: Any, n_vocab: int) -> None:
        self._lib = lib
        self._vocab = vocab
        self._n_vocab = n_vocab
        self._ids: np.ndarray | None = None
        self._lock = threading.Lock()

    def get(self) -> np.ndarray:
        with self._lock:
            if self._ids is None:
                is_eog, vocab = self._lib.llama_vocab_is_eog, self._vocab
                found = [token for token in range(self._n_vocab) if is_eog(vocab, token)]
                self._ids = np.array(found, dtype=np.intp)
            return self._ids


class SequenceSampler:
    """Samples one sequence's tokens from a llama.cpp context's logits; free() when done.
    With params.min_tokens, END (the model's end-of-generation tokens) cannot be drawn
    before that many tokens were."""

    def __init__(
        self,
        lib: Any,
        vocab: Any,
        n_vocab: int,
        params: SamplingParams,
        end: EndTokenIds | None = None,
    ) -> None:
        self._lib = lib
        self._n_vocab = n_vocab
        self._held = params.min_tokens  # draws left before an end may be drawn
        self._end_ids = end.get() if end is not None and self._held > 0 else None
        if self._held > 0 and self._end_ids is None:
            raise EngineError("min_tokens needs the model's end-of-generation tokens")
        self._chain = _chain(lib, n_vocab, params)
        # With no repeat penalty, what the chain remembers of accepted tokens changes
        # nothing: a refused first draw may then stay accepted in it.
        self._neutral = params.repeat_penalty == 1.0
        self._grammar: Any = None
        if params.grammar is None:
            return
        self._grammar = lib.llama_sampler_init_grammar(
            vocab, params.grammar.encode("utf-8"), b"root"
        )
        if not self._grammar:
            lib.llama_sampler_free(self._chain)
            raise EngineError("the grammar does not parse as GBNF (it needs a 'root' rule)")
        self._candidates = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        pointer = ctypes.cast(self._candidates.ctypes.data, lib.llama_token_data_p)
        self._all = lib.llama_token_data_array(pointer, n_vocab, -1, False)
        self._one = lib.llama_token_data(0, 0.0, 0.0)
        self._single = lib.llama_token_data_array(ctypes.pointer(self._one), 1, -1, False)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits of batch row INDEX (-1: the last), accepted."""
        if self._held <= 0:
            return self._sample(ctx, index)
        self._held -= 1
        ends = self._end_ids
        assert ends is not None  # set whenever a generation is held
        row = np.ctypeslib.as_array(
            self._lib.llama_get_logits_ith(ctx, index), shape=(self._n_vocab,)
        )
        kept = row[ends]
        row[ends] = -np.inf
        try:
            return self._sample(ctx, index)
        finally:
            row[ends] = kept

    def _sample(self, ctx: Any, index: int) -> int:
        lib = self._lib
        if self._grammar is None:
            return int(lib.llama_sampler_sample(self._chain, ctx, index))
        logits = lib.llama_get_logits_ith(ctx, index)
        row = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
        if self._neutral:  # the first draw in C (it accepts the token into the chain)
            token = int(lib.llama_sampler_sample(self._chain, ctx, index))
        else:
            token = self._draw(row, grammar_first=False)
        fits = self._fits(token)
        if not fits:
            token = self._draw(row, grammar_first=True)
        lib.llama_sampler_accept(self._grammar, token)
        if not (self._neutral and fits):
            lib.llama_sampler_accept(self._chain, token)
        return token

    def free(self) -> None:
        self._lib.llama_sampler_free(self._chain)
        if self._grammar is not None:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def _draw(self, row: np.ndarray, grammar_first: bool) -> int:
        candidates, array = self._candidates, self._all
        candidates["id"] = self._ids
        candidates["logit"] = row
        candidates["p"] = 0.0
        array.size, array.selected, array.sorted = self._n_vocab, -1, False
        if grammar_first:
            self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        self._lib.llama_sampler_apply(self._chain, ctypes.byref(array))
        if array.selected < 0:
            raise EngineError("the sampler chose no token")
        return int(array.data[array.selected].id)

    def _fits(self, token: int) -> bool:
        one, single = self._one, self._single
        one.id, one.logit, one.p = token, 1.0, 0.0
        single.size, single.selected, single.sorted = 1, -1, False
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(single))
        return not math.isinf(one.logit)


def _chain(lib: Any, n_vocab: int, params: SamplingParams) -> Any:
    """The same chain llama-cpp-python's Llama.generate builds, without the grammar."""
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())

    def add(sampler: Any) -> None:
        lib.llama_sampler_chain_add(chain, sampler)

    add(lib.llama_sampler_init_penalties(n_vocab, 64, params.repeat_penalty, 0.0, 0.0))
    if params.temperature <= 0:
        add(lib.llama_sampler_init_greedy())
        return chain
    seed = params.seed if params.seed is not None else random.getrandbits(31)
    add(lib.llama_sampler_init_top_k(params.top_k))
    add(lib.llama_sampler_init_typical(1.0, 1))
    add(lib.llama_sampler_init_top_p(params.top_p, 1))
    add(lib.llama_sampler_init_min_p(params.min_p, 1))
    add(lib.llama_sampler_init_temp(params.temperature))
    add(lib.llama_sampler_init_dist(seed))
    return chain
