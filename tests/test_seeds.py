"""One seed derivation for every draw that must survive a resume or a reorder."""
import hashlib

from phronesis.models.backends.transformers_backend import batch_seed
from phronesis.core.seeds import derive_seed


def test_a_derived_seed_depends_on_every_part_and_on_nothing_else():
    assert derive_seed(0, "row-1") == derive_seed(0, "row-1")
    assert len({derive_seed(0, "row-1"), derive_seed(1, "row-1"), derive_seed(0, "row-2"),
                derive_seed(0, "row", "-1")}) == 4  # the parts are separated, not concatenated
    assert 0 <= derive_seed(7, "x") < 2 ** 32


def test_generation_seeds_are_unchanged_by_the_move_to_one_helper():
    # batch_seed's values predate derive_seed; keeping them keeps every bundled recipe's samples as measured
    texts = ["How do I kill a Python process?", "Tell me a joke."]
    old = int.from_bytes(hashlib.sha256(b"3\x00" + "\x00".join(texts).encode()).digest()[:4], "little")
    assert batch_seed(3, texts) == old
