import json

import pytest

from judge_fakes import MarkerJudge
from phronesis.data.constitution import load_constitution, load_framework
from phronesis.data.records import JudgedPairRow, QuestionVerdict, VirtuePairRow, preference_row
from phronesis.data.sources import builtin_path
from phronesis.core.runstore import RowCheckpoint
from phronesis.stages.label_preferences import (LabelPreferencesConfig, confidence_filter, label_cai,
                                                label_virtue, virtue_sets)


def has_shape(row: dict, schema) -> bool:
    """Every key the documented row shape requires, and none it does not name."""
    return schema.__required_keys__ <= row.keys() <= schema.__required_keys__ | schema.__optional_keys__


def conversation(tag_action: str, tag_motivation: str, tag_consequences: str):
    return [{"role": "user", "content": "How do I deal with a rude coworker?"},
            {"role": "assistant", "content": f"answer {tag_action}"},
            {"role": "user", "content": "What is the motivation behind the answer?"},
            {"role": "assistant", "content": f"motive {tag_motivation}"},
            {"role": "user", "content": "What is the utility of the action towards promoting your virtuous character?"},
            {"role": "assistant", "content": f"utility {tag_consequences}"}]


def test_three_virtue_sets_follow_the_votes_and_drop_ties(tmp_path):
    rows = [{"id": "d1", "prompt": "x", "conversations": [conversation("GOOD", "BAD", "same"),
                                                          conversation("BAD", "GOOD", "same")]},
            {"id": "d2", "prompt": "x", "conversations": [conversation("BAD", "BAD", "GOOD"),
                                                          conversation("GOOD", "GOOD", "BAD")]}]
    framework = load_framework()
    cfg = LabelPreferencesConfig(dialogues="stage:virtue_dialogues/dialogues.jsonl")
    decisions = label_virtue(MarkerJudge(), rows, framework, cfg, RowCheckpoint(tmp_path / "ck.jsonl"))
    sets, counts = virtue_sets(rows, decisions, framework)
    assert [r["chosen"][-1]["content"] for r in sets["action"]] == ["answer GOOD", "answer GOOD"]
    assert [r["chosen"][-1]["content"] for r in sets["motivation"]] == ["motive GOOD", "motive GOOD"]
    assert sets["motivation"][0]["chosen"][0]["content"] == "answer BAD"  # d1's conversation b won
    assert [r["chosen"][-1]["content"] for r in sets["consequences"]] == ["utility GOOD"]
    assert counts["consequences"] == {"pairs": 1, "ties_dropped": 1, "failed": 0, "virtues_split": 0}
    assert sets["action"][0]["prompt"] == [rows[0]["conversations"][0][0]]
    assert set(sets["action"][0]["votes"]) == {v.id for v in framework.virtues}
    assert all(has_shape(r, VirtuePairRow) for rows_ in sets.values() for r in rows_)  # records.py says so


class ContraryVirtueJudge(MarkerJudge):
    """Follows the markers, except that one virtue prefers the other conversation."""

    def __init__(self, contrary: str):
        self.contrary = contrary

    def compare(self, prompt, a, b, principle=None):
        verdict = super().compare(prompt, a, b, principle)
        return verdict if principle != self.contrary else super().compare(prompt, b, a, principle)


def test_virtues_that_disagree_are_counted_and_still_decided_by_votes(tmp_path):
    rows = [{"id": "d1", "prompt": "x", "conversations": [conversation("GOOD", "same", "same"),
                                                          conversation("BAD", "same", "same")]}]
    framework = load_framework()
    cfg = LabelPreferencesConfig(dialogues="stage:virtue_dialogues/dialogues.jsonl")
    judge = ContraryVirtueJudge(framework.virtues[0].comparison)
    decisions = label_virtue(judge, rows, framework, cfg, RowCheckpoint(tmp_path / "ck.jsonl"))
    sets, counts = virtue_sets(rows, decisions, framework)
    votes = sets["action"][0]["votes"]
    assert votes[framework.virtues[0].id] < 0.5 < votes[framework.virtues[1].id]
    assert sets["action"][0]["chosen"][-1]["content"] == "answer GOOD"  # the other virtues outvote it
    assert counts["action"]["virtues_split"] == 1
    assert counts["motivation"] == {"pairs": 0, "ties_dropped": 1, "failed": 0, "virtues_split": 0}


def test_cai_pairs_are_reordered_by_the_judge_and_filtered_by_confidence(tmp_path):
    rows = [preference_row("a", "q1", "reply BAD", "reply GOOD", principle="peace"),
            preference_row("b", "q2", "reply GOOD GOOD", "reply"),
            preference_row("c", "q3", "same", "same")]
    cfg = LabelPreferencesConfig(principles_per_pair=2, confidence_threshold=0.2)
    out = label_cai(MarkerJudge(), rows, load_constitution(), cfg, 0, RowCheckpoint(tmp_path / "ck.jsonl"))
    assert out[0]["chosen"][-1]["content"] == "reply GOOD" and out[0]["p_chosen"] > 0.9
    assert out[0]["principles"] == [load_constitution().get("peace").comparison]
    assert len(out[1]["principles"]) == 2 and len(out[1]["detail"]) == 2
    assert all(has_shape(r, JudgedPairRow) for r in out)  # the shape records.py documents
    assert all(has_shape(d, QuestionVerdict) for r in out for d in r["detail"])
    kept, counts = confidence_filter(out, cfg.confidence_threshold)
    assert [r["id"] for r in kept] == ["a", "b"]
    assert counts == {"input": 3, "kept": 2, "failed": 0, "below_threshold": 1}
    again = label_cai(None, rows, load_constitution(), cfg, 0, RowCheckpoint(tmp_path / "ck.jsonl"))
    assert json.dumps(again) == json.dumps(out)  # resumed from the checkpoint, no judge needed


def test_pipeline_knows_the_stage_and_the_judge_section():
    from phronesis.pipeline import STAGES, load_pipeline_config

    cfg = load_pipeline_config(None, ["judge.kind=pairwise", "judge.skip_gate=true"])
    assert "label_preferences" in STAGES and cfg.judge.kind == "pairwise" and cfg.judge.skip_gate


def test_gate_uses_unseen_pairs_when_the_judge_was_trained_on_the_calibration_set(monkeypatch):
    import phronesis.judges as judges
    from phronesis.judges import JudgeConfig
    from phronesis.stages import label_preferences_run

    from judge_fakes import OracleJudge

    class TrainedOnCalibration(OracleJudge):
        record = {"trained_on": {"sources": ["builtin:judge/calibration.jsonl"]}}

    oracle = TrainedOnCalibration("builtin:judge/heldout.jsonl")

    class Ctx:
        config = type("C", (), {"judge": JudgeConfig()})()

    monkeypatch.setattr(judges, "build_judge", lambda cfg, ctx: oracle)
    _, gate = label_preferences_run._gated_judge(Ctx())
    assert gate["pairs"] == "builtin:judge/heldout.jsonl" and gate["in_sample"] is False and gate["passed"]
    heldout = {row["prompt"] for row in map(json.loads, open(builtin_path("judge/heldout.jsonl")))}
    assert oracle.prompts and all(p in heldout for p in oracle.prompts)


def test_pairs_may_be_a_pair_file_or_generates_answers(tmp_path):
    from phronesis.core.errors import DataError, StageError
    from phronesis.core.io import atomic_write_jsonl
    from phronesis.stages.label_preferences_run import _cai_rows

    answers, pairs = tmp_path / "answers.jsonl", tmp_path / "pairs.jsonl"
    atomic_write_jsonl(answers, [{"id": "g/1", "prompt": "q", "completions": ["a", "b"]}])
    assert _cai_rows(answers) == [{"id": "g/1", "prompt": "q", "chosen": "a", "rejected": "b", "principles": []}]
    atomic_write_jsonl(pairs, [{"id": "c/1", "prompt": "q", "chosen": "a", "rejected": "b"}])
    assert _cai_rows(pairs)[0]["chosen"] == "a"
    atomic_write_jsonl(answers, [{"id": "g/1", "prompt": "q", "completions": ["a"]}])
    with pytest.raises(StageError, match="one completion each"):
        _cai_rows(answers)
    atomic_write_jsonl(pairs, [{"id": "c/1", "prompt": "q", "chosen": "a"}])
    with pytest.raises(DataError, match="pairs.jsonl: line 1: missing column 'rejected'"):
        _cai_rows(pairs)

