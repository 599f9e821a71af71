import csv
import gzip
import json

import pytest

from phronesis.core.errors import DataError
from phronesis.data.hh_rlhf import load_hh_rlhf_pairs, parse_transcript, split_pair
from phronesis.data.sources import load_prompts

CHOSEN = "\n\nHuman: hi there\n\nAssistant: Hello!\n\nHuman: how do I pick a lock?\n\nAssistant: Call a locksmith."
REJECTED = "\n\nHuman: hi there\n\nAssistant: Hello!\n\nHuman: how do I pick a lock?\n\nAssistant:  Use a bobby pin."


def write_hh(path, rows):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for chosen, rejected in rows:
            handle.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")
    return path


def test_csv_loader_uses_the_configured_column(tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "question"])
        writer.writerows([["a", "first, with a comma"], ["b", "second"]])
    rows = load_prompts({"source": str(path), "column": "question", "id_column": "key"})
    assert [(r["id"], r["prompt"]) for r in rows] == [("a", "first, with a comma"), ("b", "second")]
    with pytest.raises(DataError, match="no column 'prompt'"):
        load_prompts(str(path))


def test_parquet_loader_reads_column_and_limit(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["x", "y", "z"], "n": [1, 2, 3]}), path)
    rows = load_prompts({"source": str(path), "column": "text", "limit": 2})
    assert [r["prompt"] for r in rows] == ["x", "y"] and rows[1]["n"] == 2
    assert [r["id"] for r in rows] == ["row-00001", "row-00002"]  # no id column: numbered


def test_hf_disk_loader_reads_saved_dataset_and_split(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "ds"
    DatasetDict({"train": Dataset.from_dict({"prompt": ["a", "b"], "id": ["1", "2"]}),
                 "test": Dataset.from_dict({"prompt": ["c"], "id": ["3"]})}).save_to_disk(str(folder))
    assert [r["prompt"] for r in load_prompts({"source": str(folder), "split": "test"})] == ["c"]
    assert [r["id"] for r in load_prompts(str(folder))] == ["1", "2"]  # a folder means hf-disk
    with pytest.raises(DataError, match="no split 'dev'"):
        load_prompts({"source": str(folder), "split": "dev"})


def test_hub_dataset_offline_fails_with_one_line_hint(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'org/name' on the Hub (LocalEntryNotFoundError)\nmore lines")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as err:
        load_prompts("hf:org/name")
    message = str(err.value)
    assert "\n" not in message and message.startswith("hf:org/name") and "local" in message


def test_loader_bugs_surface_whole_while_unreadable_sources_get_one_line(monkeypatch, tmp_path):
    """Only 'cannot get or read it' becomes a DataError; a bug (here a TypeError) keeps its traceback."""
    import datasets
    import pyarrow.parquet as pq

    damaged = tmp_path / "damaged.parquet"
    damaged.write_text("not parquet")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_prompts(str(damaged))

    def bug(*args, **kwargs):
        raise TypeError("a bug in the loader")

    monkeypatch.setattr(pq, "read_table", bug)
    with pytest.raises(TypeError, match="a bug in the loader"):
        load_prompts(str(damaged))
    monkeypatch.setattr(datasets, "load_dataset", bug)
    with pytest.raises(TypeError, match="a bug in the loader"):
        load_prompts("hf:org/name")

    def unknown_split(*args, **kwargs):
        raise ValueError('Unknown split "dev". Should be one of [\'train\'].')

    monkeypatch.setattr(datasets, "load_dataset", unknown_split)
    with pytest.raises(DataError, match="Unknown split"):
        load_prompts({"source": "hf:org/name", "split": "dev"})


def test_hh_first_turn_and_dialogue_modes(tmp_path):
    path = write_hh(tmp_path / "hh.jsonl.gz", [(CHOSEN, REJECTED)] * 2)
    first = load_prompts(str(path))  # .jsonl.gz with transcripts is recognised as hh-rlhf
    assert [r["prompt"] for r in first] == ["hi there", "hi there"]
    assert [r["id"] for r in first] == ["hh-00001", "hh-00002"]
    dialogue = load_prompts({"source": str(path), "format": "hh-rlhf", "hh_mode": "dialogue"})
    assert dialogue[0]["prompt"] == [{"role": "user", "content": "hi there"},
                                     {"role": "assistant", "content": "Hello!"},
                                     {"role": "user", "content": "how do I pick a lock?"}]


def test_hh_pairs_split_at_the_shared_prefix(tmp_path):
    path = write_hh(tmp_path / "hh.jsonl", [(CHOSEN, REJECTED)])
    [pair], skipped = load_hh_rlhf_pairs(path)
    assert skipped == 0
    assert pair["prompt"][-1] == {"role": "user", "content": "how do I pick a lock?"}
    assert pair["chosen"] == [{"role": "assistant", "content": "Call a locksmith."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "Use a bobby pin."}]
    # both replies start alike: the split still falls at the last Assistant marker, not mid-reply
    prefix, a, b = split_pair(CHOSEN[:-17] + "Call me.", CHOSEN[:-17] + "Call them.")
    assert (a, b) == ("Call me.", "Call them.") and prefix.endswith("lock?")


def test_hh_malformed_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"chosen": CHOSEN, "rejected": REJECTED}) + "\n{oops\n")
    with pytest.raises(DataError, match="line 2"):
        load_hh_rlhf_pairs(path)


def test_every_hh_rlhf_loader_skips_transcripts_that_part_before_the_last_turn(tmp_path):
    from phronesis.evaluation.rm_data import load_pairs as rm_pairs
    from phronesis.judges.pairs import load_pairs as judge_pairs

    parted = ("\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: more\n\nAssistant: Sure.",
              "\n\nHuman: hi\n\nAssistant: Go away.\n\nHuman: more\n\nAssistant: No.")
    path = write_hh(tmp_path / "hh.jsonl", [(CHOSEN, REJECTED), parted])
    pairs, skipped = load_hh_rlhf_pairs(path)
    assert (len(pairs), skipped) == (1, 1)
    assert (len(rm_pairs(path)[0]), rm_pairs(path)[1]) == (1, 1)
    assert [r["chosen"] for r in judge_pairs(path)] == ["Call a locksmith."]


def test_hh_rlhf_harmless_base_test_split(shared_data):
    path = shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    pairs, skipped = load_hh_rlhf_pairs(path)
    assert (len(pairs), skipped) == (2307, 5)
    from phronesis.evaluation.rm_data import load_pairs as rm_pairs
    from phronesis.judges.pairs import load_pairs as judge_pairs

    assert [p["id"] for p in rm_pairs(path)[0]] and len(rm_pairs(path)[0]) == len(judge_pairs(path)) == 2307
    assert all(p["prompt"][-1]["role"] == "user" and p["prompt"][0]["role"] == "user" for p in pairs)
    raw = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    for pair in pairs:  # the prompt is shared by both transcripts, every turn but the last
        row = raw[int(pair["id"].removeprefix("hh-")) - 1]
        prompt_turns = len(pair["prompt"])
        assert parse_transcript(row["chosen"])[:prompt_turns] == pair["prompt"]
        assert parse_transcript(row["rejected"])[:prompt_turns] == pair["prompt"]
        assert row["chosen"].rstrip().endswith(pair["chosen"][0]["content"])
    assert sum(p["chosen"] != p["rejected"] for p in pairs) > 2200
    assert len(load_hh_rlhf_pairs(path, limit=5)[0]) == 5
    prompts = load_prompts({"source": str(path), "limit": 3})
    assert prompts[0]["prompt"] == pairs[0]["prompt"][0]["content"]


def test_an_over_long_prompt_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "short"}\n' + json.dumps({"id": "b", "prompt": "x" * 20000}) + "\n")
    with pytest.raises(DataError, match=r"row 2: prompt is 20,000 characters"):
        load_prompts(str(path))
    assert len(load_prompts({"source": str(path), "max_prompt_chars": 30000})) == 2
