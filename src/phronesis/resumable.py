"""Map a batch function over rows with a checkpoint, so a killed process loses one chunk at most."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .progress import progress
from .runstore import RowCheckpoint

Row = dict[str, Any]


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
