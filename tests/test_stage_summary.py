"""The one-line stage summaries, from fixed manifests."""
from phronesis.report.stage_summary import format_counts, stage_summary

SFT = {"counts": {"rows": 112, "steps": 24, "seconds_per_step": 5.812, "final_loss": 1.7634,
                  "resumed_from": None}, "timings": {"seconds": 141.2}}


def test_training_stage_reads_as_counts_rate_and_final_loss():
    assert stage_summary("02-sft", SFT) == "02-sft  112 rows, 24 steps, 5.8 s/step, final loss 1.76  141 s"


def test_generation_counts_ratios_and_nested_sets():
    counts = {"prompts": 12, "kept": 12, "dropped": 0, "harmful_kept": "20/32", "chosen_by": "judge",
              "rm_0": {"pairs": 40, "eval_accuracy": 0.725}}
    assert format_counts(counts) == ("12 prompts, 12 kept, 0 dropped, harmful kept 20/32, "
                                     "rm_0 (40 pairs, eval accuracy 0.725)")


def test_skipped_stage_and_long_stage_and_no_counts():
    assert stage_summary("02-sft", SFT, skipped=True) == (
        "02-sft  up to date: 112 rows, 24 steps, 5.8 s/step, final loss 1.76")
    assert stage_summary("08-evaluate", {"counts": {}, "timings": {"seconds": 725}}) == "08-evaluate  done  12.1 min"
