"""Model artifacts: pickled models stored and found by their sha256.

Pickle runs code when loaded, so ``load`` refuses bytes whose hash is not the one the
knowledge base recorded: an artifact swapped in the store is never unpickled.
"""

from __future__ import annotations

import hashlib
import pickle

from ._model import Model


class ArtifactMismatch(ValueError):
    """The bytes are not the artifact that was asked for."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump(model: Model) -> tuple[bytes, str]:
    data = pickle.dumps(model, protocol=5)
    return data, sha256(data)


def verify(data: bytes, expected_sha256: str) -> None:
    actual = sha256(data)
    if actual != expected_sha256:
        raise ArtifactMismatch(
            f"artifact {expected_sha256[:12]} has hash {actual[:12]}: refused, not loaded"
        )


def load(data: bytes, expected_sha256: str) -> Model:
    verify(data, expected_sha256)
    model = pickle.loads(data)  # noqa: S301 - verified against the recorded hash above
    if not isinstance(model, Model):
        raise ArtifactMismatch(f"artifact {expected_sha256[:12]} holds no driftloop model")
    return model
