"""The iterate stage's wrapper: real pieces of the loop (transformers generation, MiniLM consistency scores,
LoRA SFT) and `run`, which the pipeline registers.

Kept apart from iterate.py, the pure loop, so its logic reads on its own and tests swap these for fakes; the
core never imports this module.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.protocols import GenerationParams
from .iterate import IterateStageConfig, LoopParts, Row, iterate_loop, load_groups


def consistency_scores(rows: list[Row], embedder: Any) -> list[Row]:
    """Each answer's mean cosine similarity to the answers given to the *other* paraphrases of its group."""
    emb = embedder.embed([r["answer"] for r in rows])
    sim = emb @ emb.T
    out = []
    for i, row in enumerate(rows):
        peers = [j for j, other in enumerate(rows) if other["group"] == row["group"]
                 and other["paraphrase"] != row["paraphrase"]]
        out.append({**row, "score": float(sim[i, peers].mean()) if peers else 0.0})
    return out


def _answers(model_ref: str, groups: list[Row], params: GenerationParams) -> list[Row]:
    from ..models.backends import make_generator

    prompts = [(g["id"], k, p) for g in groups for k, p in enumerate(g["paraphrases"])]
    outputs = make_generator(model_ref).generate([p for _, _, p in prompts], params)
    return [{"id": f"{gid}/{k}/{s}", "group": gid, "paraphrase": k, "prompt": p, "answer": str(a)}
            for (gid, k, p), answers in zip(prompts, outputs) for s, a in enumerate(answers)]


def build_parts(ctx: Any, cfg: IterateStageConfig, stage_dir: Path) -> tuple[str, LoopParts]:
    from ..data.modelref import resolve_local_path
    from ..evaluation.sage import sage_score
    from ..models.embeddings import TransformersEmbedder

    from ..curation.selection import select_by_decaying_threshold
    train_groups, eval_groups = load_groups(cfg)
    embedder = TransformersEmbedder(ctx.model_spec(cfg.embedder))
    teacher = resolve_local_path(ctx.model_spec(cfg.teacher).ref) if cfg.teacher else None

    def generate(policy: str, number: int) -> list[Row]:
        params = cfg.generation.params(ctx.seed + number, n=cfg.samples_per_prompt)
        return _answers(teacher or policy, train_groups, params)

    def train(policy: str, kept: list[Row], folder: Path) -> str:
        from .sft import SFTStageConfig, train as sft_train

        rows = [{"messages": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["answer"]}]}
                for r in kept]
        sft_cfg = SFTStageConfig(lora=cfg.lora, chat_template=cfg.chat_template, merge=True, trl=cfg.trl)
        if not (folder / "merged" / "config.json").exists():
            sft_train(policy, rows, folder, sft_cfg)
        return str(folder / "merged")

    def evaluate(policy: str) -> float:
        params = GenerationParams(max_new_tokens=cfg.generation.max_new_tokens, temperature=0.0, seed=ctx.seed)
        rows = _answers(policy, eval_groups, params)
        by_group = [[r["answer"] for r in rows if r["group"] == g["id"]] for g in eval_groups]
        return sum(sage_score(answers, embedder) for answers in by_group) / len(by_group)

    start = resolve_local_path(ctx.model_spec(cfg.model).ref)
    return start, LoopParts(generate, lambda rows: consistency_scores(rows, embedder),
                            select_by_decaying_threshold, train, evaluate)


def run(ctx) -> Any:
    from ..core.runstore import run_stage

    cfg: IterateStageConfig = ctx.section("iterate")

    def body(stage) -> dict[str, Any]:
        from ..data.hygiene import record_training_prompts
        from ..evaluation.consistency import paraphrase_rows

        start, parts = build_parts(ctx, cfg, stage.path)
        record_training_prompts(stage.path, paraphrase_rows(load_groups(cfg)[0]))
        summary = iterate_loop(stage.path / "rounds", start, parts, cfg)
        actions = [d["action"] for d in summary["decisions"]]
        stage.counts.update(rounds=len(actions), kept=actions.count("keep"), discarded=actions.count("discard"),
                            best_metric=summary["best"]["metric"],
                            baseline_metric=summary["baseline"]["metric"])
        return {"best_policy": summary["best"]["policy"]}

    return run_stage(ctx.run, ctx.index("iterate"), "iterate", ctx.fingerprint_inputs("iterate"), inputs={},
                     body=body, seed=ctx.seed, force=ctx.force)
