"""A Keras callback that breaks a SQLite MLflow store mid-run, as a disk, a backup job or another
process would: the file's bytes are overwritten in place (open connections see it too)."""

from pathlib import Path

import keras


class BreakStore(keras.callbacks.Callback):
    """Overwrites `path` with garbage as epoch `at_epoch` begins; with `restore`, puts the bytes
    back as that epoch ends (after the loggers before it in the list ran), else they stay broken
    (the good bytes wait in `<path>.good` for the test)."""

    def __init__(self, path: str, at_epoch: int, restore: bool = False) -> None:
        super().__init__()
        self.path, self.at_epoch, self.restore = Path(path), at_epoch, restore

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.at_epoch:
            good = self.path.read_bytes()
            self.path.with_name(self.path.name + ".good").write_bytes(good)
            with self.path.open("r+b") as file:  # the same file, as a connection holds it
                file.write(b"not a database any more " * (len(good) // 24 + 1))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.at_epoch and self.restore:
            good = self.path.with_name(self.path.name + ".good").read_bytes()
            with self.path.open("r+b") as file:
                file.write(good)
                file.truncate()
