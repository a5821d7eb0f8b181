"""Random (version 4) UUIDs as text, many from one read of the system's randomness.

Serving names every prediction it logs, and every record that came without an id:
``str(uuid.uuid4())`` costs a system call and a UUID object each, about 4 us here, a
twentieth of a whole prediction.

>>> import uuid
>>> [uuid.UUID(text).version for text in uuid4s(3)]
[4, 4, 4]
>>> uuid.UUID(new_id()).version
4
"""

from __future__ import annotations

import os


def uuid4s(count: int) -> list[str]:
    """``count`` random UUIDs, as ``str(uuid.uuid4())`` gives them."""
    data = bytearray(os.urandom(16 * count))
    data[6::16] = bytes(b & 0x0F | 0x40 for b in data[6::16])  # version 4
    data[8::16] = bytes(b & 0x3F | 0x80 for b in data[8::16])  # the RFC 4122 variant
    text = data.hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}"
        f"-{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


_spare: list[str] = []


def new_id() -> str:
    """One random UUID, as ``str(uuid.uuid4())`` gives it, from a stock made 256 at a time."""
    if not _spare:
        _spare.extend(uuid4s(256))
    return _spare.pop()
