"""Map a batch function over rows with a checkpoint, so a killed process loses one chunk at most."""
from __future__ import annotations

from typing import Callable, Sequence

from .progress import progress
from .protocols import GenerationParams, Generator, Row, finish_reason
from .runstore import RowCheckpoint


def map_resumable(rows: Sequence[Row], process_chunk: Callable[[list[Row]], list[Row]],
                  checkpoint: RowCheckpoint, chunk_size: int, description: str) -> list[Row]:
    """Apply `process_chunk` to fixed chunks of `rows`, skipping chunks already checkpointed.

    Chunks are cut from the full list before anything is skipped, so a resumed run
    feeds the model exactly the same batches as an uninterrupted one. Output rows
    must carry the input row's `id`. Returns output rows in input order.
    """
    ids = [str(row["id"]) for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("map_resumable needs unique row ids")
    chunks = [list(rows[i:i + chunk_size]) for i in range(0, len(rows), max(1, chunk_size))]
    done = sum(1 for i in ids if i in checkpoint)
    with progress(description, total=len(rows), done=done) as advance:
        for chunk in chunks:
            todo = [row for row in chunk if row["id"] not in checkpoint]
            if not todo:
                continue
            outputs = process_chunk(chunk)
            missing = {str(r["id"]) for r in chunk} - {str(o["id"]) for o in outputs}
            if missing:
                raise RuntimeError(f"chunk function dropped ids {sorted(missing)[:3]}")
            checkpoint.append(outputs)
            advance(len(todo))
    return checkpoint.rows(order=ids)


def generate_answers(generator: Generator, rows: Sequence[Row], params: GenerationParams,
                     checkpoint: RowCheckpoint, chunk_size: int = 8,
                     description: str = "generate") -> list[Row]:
    """One output row per input row with `completions` and `finish_reasons`, checkpointed by chunk."""
    ordered = sorted(rows, key=lambda r: (len(r["prompt"]), r["id"]))  # length-sorted: less padding

    def answer(chunk: list[Row]) -> list[Row]:
        outputs = generator.generate([r["prompt"] for r in chunk], params)
        return [{**row, "completions": [str(c) for c in outs],
                 "finish_reasons": [finish_reason(c) for c in outs]}
                for row, outs in zip(chunk, outputs)]

    done = map_resumable(ordered, answer, checkpoint, chunk_size, description)
    by_id = {r["id"]: r for r in done}
    return [by_id[r["id"]] for r in rows]
