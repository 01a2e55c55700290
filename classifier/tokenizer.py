"""A private jieba.Tokenizer per rule set, sharing one cached base dictionary."""
from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

if "jieba" not in sys.modules and "pkg_resources" not in sys.modules:
    # jieba._compat imports the deprecated pkg_resources (~0.15 s, a sixth of a warm start)
    # only to open its own data files; when that import fails it opens them by path, which
    # is all it needs. Blocked for jieba's import only: anyone importing it later gets it.
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        import jieba
    finally:
        del sys.modules["pkg_resources"]
import jieba  # noqa: E402

jieba.setLogLevel(logging.WARNING)
log = logging.getLogger(__name__)

_base: jieba.Tokenizer | None = None
_base_lock = threading.Lock()
_DICT = Path(jieba.__file__).with_name("dict.txt")
KEEP_KEYWORD_CACHES = 3


def base_tokenizer(cache_dir: Path | None = None) -> jieba.Tokenizer:
    """The process-wide base dictionary, built once per install and cached in cache_dir.

    jieba's own marshal cache loads no faster than building the dictionary (~1.2 s here);
    a pickle of the same prefix dictionary loads in ~0.2 s, so we keep our own.
    """
    global _base
    with _base_lock:
        if _base is None:
            tk = jieba.Tokenizer()
            cache = _cache_path(cache_dir) if cache_dir is not None else None
            if cache is None or not _load(tk, cache):
                tk.tmp_dir = tempfile.gettempdir()
                tk.initialize()
                if cache is not None:
                    _save(tk, cache)
            _base = tk
        return _base


def keyword_tokenizer(words: Iterable[str], cache_dir: Path | None = None) -> jieba.Tokenizer:
    """A fresh tokenizer: the base dictionary plus every keyword, so keywords cut whole.

    Cached in cache_dir per set of keywords: a warm start then loads one dictionary instead of
    loading the base one and adding ~4,800 keywords to it (0.15 s of a 1 s start). The
    KEEP_KEYWORD_CACHES used last are kept; older ones are removed.
    """
    words = set(words)
    cache = _keyword_cache_path(cache_dir, words) if cache_dir is not None else None
    if cache is not None:
        tk = jieba.Tokenizer()
        if _load(tk, cache):
            _touch(cache)
            return tk
    tk = _with_keywords(base_tokenizer(cache_dir), words)
    if cache is not None:
        _save(tk, cache)
        _prune(cache.parent)
    return tk


def _touch(cache: Path) -> None:
    try:
        os.utime(cache)  # marks it in use, so pruning keeps it
    except OSError:
        pass


def _prune(cache_dir: Path) -> None:
    # Each edited rule set leaves a cache (~7 MB). Keeping the few used last means trying a
    # rule file (`wuye rules eval --baseline`) in the server's data dir does not evict the
    # dictionary of the rules in force.
    caches = []
    for path in cache_dir.glob("jieba-kw-*.pickle"):
        try:
            caches.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    for _, old in sorted(caches, reverse=True)[KEEP_KEYWORD_CACHES:]:
        old.unlink(missing_ok=True)


def _with_keywords(base: jieba.Tokenizer, words: set[str]) -> jieba.Tokenizer:
    tk = jieba.Tokenizer()
    # Copying the loaded dictionary (not re-reading it) keeps a rule reload cheap
    # and leaves the old tokenizer untouched for requests still using it.
    tk.FREQ = dict(base.FREQ)
    tk.total = base.total
    tk.initialized = True
    for w in sorted(words, key=lambda w: (len(w), w)):
        tk.add_word(w, freq=max(tk.suggest_freq(w, False), 100))
    return tk


def _keyword_cache_path(cache_dir: Path, words: set[str]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(words)).encode("utf-8")).hexdigest()[:20]
    return cache_dir / f"jieba-kw-{_cache_path(cache_dir).stem}-{digest}.pickle"


def _cache_path(cache_dir: Path) -> Path:
    st = _DICT.stat()
    return cache_dir / f"jieba-{jieba.__version__}-{st.st_size}-{int(st.st_mtime)}.pickle"


def _load(tk: jieba.Tokenizer, cache: Path) -> bool:
    try:
        with cache.open("rb") as f:
            gc.disable()  # half a million small objects: collection passes only slow the load
            try:
                tk.FREQ, tk.total = pickle.load(f)
            finally:
                gc.enable()
    except FileNotFoundError:
        return False
    except (OSError, pickle.UnpicklingError, ValueError, EOFError) as e:
        log.warning("jieba cache %s unreadable (%s); rebuilding", cache, e)
        return False
    tk.initialized = True
    return True


def _save(tk: jieba.Tokenizer, cache: Path) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump((tk.FREQ, tk.total), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)  # atomic: a concurrent start never reads half a file
    except OSError as e:
        log.warning("jieba cache not written to %s: %s", cache, e)
