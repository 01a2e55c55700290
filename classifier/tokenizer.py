"""A private jieba.Tokenizer per rule set, sharing one cached base dictionary."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import jieba

jieba.setLogLevel(logging.WARNING)

_base: jieba.Tokenizer | None = None
_base_lock = threading.Lock()


def base_tokenizer(cache_dir: Path | None = None) -> jieba.Tokenizer:
    """The process-wide base dictionary, built once and cached as a file in cache_dir."""
    global _base
    with _base_lock:
        if _base is None:
            tk = jieba.Tokenizer()
            if cache_dir is not None:
                cache_dir.mkdir(parents=True, exist_ok=True)
                tk.cache_file = str(cache_dir.resolve() / "jieba.cache")
            tk.initialize()
            _base = tk
        return _base


def keyword_tokenizer(words: Iterable[str], cache_dir: Path | None = None) -> jieba.Tokenizer:
    """A fresh tokenizer: the base dictionary plus every keyword, so keywords cut whole."""
    base = base_tokenizer(cache_dir)
    tk = jieba.Tokenizer()
    # Copying the loaded dictionary (not re-reading it) keeps a rule reload cheap
    # and leaves the old tokenizer untouched for requests still using it.
    tk.FREQ = dict(base.FREQ)
    tk.total = base.total
    tk.initialized = True
    for w in sorted(set(words), key=len):
        tk.add_word(w, freq=max(tk.suggest_freq(w, False), 100))
    return tk
