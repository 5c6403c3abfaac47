"""Continuous batching for the llama.cpp engine: several requests decoded together.

One scheduler thread owns a llama.cpp context with one KV-cache slot per sequence
(`n_seq_max` = slots; one unified buffer of `slots` context windows). Every step it builds
one `llama_batch` holding the next token of every decoding sequence plus a chunk of each new
prompt, calls `llama_decode` once, and samples each sequence with its own sampler chain
(its own temperature, top-k/p, min-p, penalties, grammar, seed and min_tokens). New
requests join between steps; a sequence that ends (end of generation, its token limit, the
context limit, a cancel, or its reader going away) frees its slot at once.

Readers are the request threads: each gets its tokens through a queue and turns them into
Chunks with the same loop as the unbatched path, so stop strings and UTF-8 behave alike.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.engines.base import CancelToken, SamplingParams
from assay.engines.logprobs import TokenLogprobs, from_logits
from assay.engines.sampling import EndTokenIds, SequenceSampler
from assay.engines.threads import ThreadPolicy
from assay.errors import EngineError

# What a sequence's queue carries besides token ids.
END = object()

# Observer of each decode step: (busy slots, tokens in the batch); (0, 0) when it goes idle.
StepObserver = Callable[[int, int], None]


@dataclass(eq=False)
class BatchedSequence:
    prompt: list[int]
    params: SamplingParams
    limit: int
    cancel: CancelToken | None
    out: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    slot: int = -1
    sampler: SequenceSampler | None = None
    fed: int = 0  # prompt tokens in the KV cache
    next_token: int | None = None  # sampled, not yet in the KV cache
    generated: int = 0
    batch_index: int = -1
    # With params.logprobs: the log probabilities of the token the reader was given last.
    latest_logprobs: TokenLogprobs | None = None

    @property
    def position(self) -> int:
        return self.fed + self.generated - (1 if self.next_token is not None else 0)

    @property
    def stopped(self) -> bool:
        return self.abandoned.is_set() or (self.cancel is not None and self.cancel.cancelled)

    def tokens(self) -> Iterator[int]:
        """The reader's side: token ids as they are sampled, until the sequence ends."""
        try:
            while (item := self.out.get()) is not END:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, TokenLogprobs):
                    self.latest_logprobs = item
                    yield item.token
                else:
                    yield item
        finally:
            self.abandoned.set()


def eog_checker(lib: Any, vocab: Any) -> Callable[[int], bool]:
    """Whether a token ends generation, memoized: every ctypes call gives up the GIL, and
    with batching, winning it back from the request threads can cost more than the call."""
    known: dict[int, bool] = {}

    def is_eog(token: int) -> bool:
        answer = known.get(token)
        if answer is None:
            answer = known[token] = bool(lib.llama_vocab_is_eog(vocab, token))
        return answer

    return is_eog


class BatchScheduler:
    """Owns the batched context; `submit` from any thread, tokens come back per sequence."""

    def __init__(
        self,
        lib: Any,
        model: Any,
        vocab: Any,
        *,
        slots: int,
        context_per_slot: int,
        threads: ThreadPolicy,
        batch_size: int = 512,
    ) -> None:
        self._lib = lib
        self._vocab = vocab
        params = lib.llama_context_default_params()
        params.n_ctx = context_per_slot * slots
        params.n_batch = params.n_ubatch = batch_size
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = threads.current()
        # One KV buffer for all slots: llama.cpp then decodes every sequence's token in one
        # ubatch. Per-sequence buffers (kv_unified off) ran them one after another here, for
        # no gain over the unbatched path. Each slot keeps to its share: see _sample.
        params.kv_unified = True
        # As the unbatched path (llamacpp.py) loads: the same kernels, so the same text.
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
        self._ctx = lib.llama_init_from_model(model, params)
        if not self._ctx:
            raise EngineError(
                f"llama.cpp could not make a context for {slots} slots of {context_per_slot} "
                "tokens; lower --parallel or --ctx"
            )
        self._memory = lib.llama_get_memory(self._ctx)
        self._policy = threads
        self._threads = int(params.n_threads)
        self.slots = slots
        self.context_per_slot = context_per_slot
        self._batch_size = batch_size
        self._batch = lib.llama_batch_init(batch_size, 0, 1)
        self._n_vocab = int(lib.llama_vocab_n_tokens(vocab))
        self._is_eog = eog_checker(lib, vocab)
        self.end_ids = EndTokenIds(lib, vocab, self._n_vocab)
        self._inbox: queue.SimpleQueue[BatchedSequence | None] = queue.SimpleQueue()
        self._active: list[BatchedSequence] = []
        self._free = list(range(slots))
        self.observe: StepObserver | None = None
        self._thread = threading.Thread(target=self._run, name="assay-batch", daemon=True)
        self._thread.start()

    def submit(self, sequence: BatchedSequence) -> BatchedSequence:
        self._inbox.put(sequence)
        return sequence

    def close(self) -> None:
        """Finish the running sequences' current step, end every sequence, free the context."""
        self._inbox.put(None)
        self._thread.join()
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    def _run(self) -> None:
        while not self._admit(block=not self._active):
            self._drop_stopped()
            if self._active:
                self._step()
        for sequence in list(self._active):
            self._finish(sequence, EngineError("the model was unloaded"))
        while True:  # anything submitted after close: refused, never left waiting
            try:
                late = self._inbox.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                late.out.put(EngineError("the model was unloaded"))

    def _admit(self, block: bool) -> bool:
        """Move waiting sequences into free slots; True when close was asked for."""
        while self._free:
            try:
                sequence = self._inbox.get(block=block)
            except queue.Empty:
                return False
            if sequence is None:
                return True
            block = False
            if sequence.stopped:
                sequence.out.put(END)
                continue
            try:
                sequence.sampler = self._sampler(sequence.params)
            except EngineError as exc:
                sequence.out.put(exc)
                continue
            sequence.slot = self._free.pop()
            self._active.append(sequence)
        return False

    def _drop_stopped(self) -> None:
        for sequence in [s for s in self._active if s.stopped]:
            self._finish(sequence)

    def _step(self) -> None:
        lib, batch = self._lib, self._batch
        n = 0
        for sequence in self._active:  # one token for each decoding sequence
            if sequence.next_token is None:
                continue
            self._put(n, sequence.next_token, sequence.position, sequence.slot, True)
            sequence.batch_index = n
            n += 1
        for sequence in self._active:  # then as much of each new prompt as fits
            if sequence.next_token is not None or n >= self._batch_size:
                continue
            take = min(len(sequence.prompt) - sequence.fed, self._batch_size - n)
            last = sequence.fed + take == len(sequence.prompt)
            for i in range(take):
                position = sequence.fed + i
                logits = last and i == take - 1
                self._put(n, sequence.prompt[position], position, sequence.slot, logits)
                n += 1
            sequence.fed += take
            sequence.batch_index = n - 1 if last else -1
        batch.n_tokens = n
        if self.observe is not None:
            self.observe(len(self._active), n)
        threads = self._policy.current()
        if threads != self._threads:
            lib.llama_set_n_threads(self._ctx, threads, threads)
            self._threads = threads
        code = lib.llama_decode(self._ctx, batch)
        if code != 0:
            for sequence in list(self._active):
                self._finish(sequence, EngineError(f"llama.cpp failed to decode (code {code})"))
            return
        # In batch order: llama.cpp keeps the flagged tokens' logits in that order.
        sampled = sorted((s for s in self._active if s.batch_index >= 0), key=_batch_index)
        greedy = self._greedy_tokens(sampled)
        for sequence in sampled:
            self._sample(sequence, greedy.get(sequence))
        for sequence in self._active:
            sequence.batch_index = -1

    def _greedy_tokens(self, sampled: list[BatchedSequence]) -> dict[BatchedSequence, int]:
        """Argmax of the greedy sequences' logits, all rows in one numpy call: the sampler
        chain would copy the whole vocabulary into a candidate list per sequence, and on a
        small model that took 5% of every step. Same token: greedy is the first maximum."""
        greedy = [s for s in sampled if _plain_greedy(s.params)]
        if not greedy:
            return {}
        # Rows are the batch's logits-flagged tokens in batch order, one per sampled sequence.
        rows = np.ctypeslib.as_array(
            self._lib.llama_get_logits(self._ctx), shape=(len(sampled), self._n_vocab)
        )
        picks = rows.argmax(axis=1)
        row = {s: i for i, s in enumerate(sampled)}
        tokens = {s: int(picks[row[s]]) for s in greedy}
        for s, token in tokens.items():
            if s.generated < s.params.min_tokens and self._is_eog(token):
                # Held (min_tokens): the best token that does not end it, from a copy, so
                # that its log probabilities stay the model's own.
                held = rows[row[s]].copy()
                held[self.end_ids.get()] = -np.inf
                tokens[s] = int(held.argmax())
        return tokens

    def _put(self, i: int, token: int, position: int, slot: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = position
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = slot
        batch.logits[i] = logits

    def _sample(self, sequence: BatchedSequence, token: int | None) -> None:
        if token is None:
            assert sequence.sampler is not None  # set when the sequence was admitted
            token = sequence.sampler.sample(self._ctx, sequence.batch_index)
        sequence.generated += 1
        top = sequence.params.logprobs
        if top is None:
            sequence.out.put(token)
        else:
            logits = self._lib.llama_get_logits_ith(self._ctx, sequence.batch_index)
            row = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
            sequence.out.put(from_logits(row, token, top))
        sequence.next_token = token
        if self._is_eog(token) or sequence.generated >= sequence.limit:
            self._finish(sequence)
        elif sequence.position + 1 > self.context_per_slot:
            self._finish(sequence)  # the slot is full: the reader sees finish_reason "length"

    def _finish(self, sequence: BatchedSequence, error: BaseException | None = None) -> None:
        self._active.remove(sequence)
        self._lib.llama_memory_seq_rm(self._memory, sequence.slot, -1, -1)
        if sequence.sampler is not None:
            sequence.sampler.free()
        self._free.append(sequence.slot)
        if not self._active and self.observe is not None:
            self.observe(0, 0)  # idle, said before the reader can see its end
        sequence.out.put(error if error is not None else END)

    def _sampler(self, params: SamplingParams) -> SequenceSampler:
        return SequenceSampler(self._lib, self._vocab, self._n_vocab, params, self.end_ids)


def _plain_greedy(params: SamplingParams) -> bool:
    """Greedy with nothing that reshapes the logits first: the argmax is the token."""
    return params.temperature <= 0 and params.grammar is None and params.repeat_penalty == 1.0


def _batch_index(sequence: BatchedSequence) -> int:
    return sequence.batch_index
