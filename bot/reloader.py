"""The rules in force: loaded at start-up, swapped whole when the rule file changes."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from bot.errors import RulesError
from classifier import Classifier
from classifier.rules import DEFAULT_RULES_PATH

log = logging.getLogger(__name__)


class ClassifierHolder:
    """Holds the current Classifier; a watcher thread reloads it when the rule file or the
    model file it names changes."""

    def __init__(self, path: Path | None, cache_dir: Path | None, interval: float = 2.0) -> None:
        self.path = path or DEFAULT_RULES_PATH
        self.cache_dir = cache_dir
        self.interval = interval
        self._classifier = Classifier.from_file(self.path, cache_dir)  # a bad file refuses start-up
        self._stamp = self._mtime()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    def __call__(self) -> Classifier:
        """The classifier in force."""
        return self._classifier

    def reload_if_changed(self) -> bool:
        """Reload when a file changed; a bad edit is logged with its key and the old rules stay."""
        stamp = self._mtime()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._classifier = Classifier.from_file(self.path, self.cache_dir)
        except RulesError as e:
            self.last_error = str(e)
            log.error("rules not reloaded, the previous rules stay in force: %s", e)
            return False
        self.last_error = ""
        self._stamp = self._mtime()  # the new rules may name another model file
        log.info("rules reloaded from %s", self.path)
        return True

    def start(self) -> None:
        """Watch the rule file in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="rules-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reload_if_changed()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad reload
                log.exception("rules watcher error")

    def _mtime(self) -> tuple[tuple[float, int] | None, ...]:
        """The rule file's and the model file's (mtime, size): an edit to either reloads."""
        model = self._classifier.model
        paths = [self.path] + ([Path(model.source)] if model is not None and model.source else [])
        return tuple(_stat(p) for p in paths)


def _stat(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime, st.st_size)
