"""`data.path=~/photos` on the command line, as users type it.

Bash expands `~` after the `=` of an argument only where the key is a shell variable name, so
`input=~/photos` arrives expanded but `data.path=~/photos` arrives as typed, and Hydra's override
grammar refuses `~` in an unquoted value. Expanding it here gives every key what bash gives
`input=`: the home folder, at the start of the value and of each comma-separated sweep value.
"""

import re
from pathlib import Path

_OVERRIDE = re.compile(r"^\+{0,2}[A-Za-z_][\w.@/-]*=")  # key=value, +key=..., not ~key (delete)
_TILDE = re.compile(r"(?<=[=,])~(?=/|,|$)")


def home_expanded(args: list[str]) -> list[str]:
    """`args` with a leading `~` of each override's value (and of each value after a comma)
    replaced by the home folder; flags, quoted values and `~key` deletions as they are."""
    home = str(Path.home())
    return [_TILDE.sub(lambda _: home, arg) if _OVERRIDE.match(arg) else arg for arg in args]
