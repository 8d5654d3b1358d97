"""The selection split of docs/training.md ("Pitch information peaks early"): nsynth-small's valid instruments
cut in two (alternately per family, in sorted order): the first half becomes the view's valid split (early
stopping), the second half its test split (scoring); the train split is linked unchanged. The real test split
is never read. Audio files are symlinked, examples.json filtered.

    python make_select_view.py DATA/nsynth-small select-view
"""
import json
import os
import sys

src, dst = sys.argv[1], sys.argv[2]
ex = json.load(open(f"{src}/nsynth-valid/examples.json"))
by_family: dict[str, list[str]] = {}
for inst in sorted({v["instrument_str"] for v in ex.values()}):
    by_family.setdefault(inst.split("_")[0], []).append(inst)
halves: tuple[set, set] = (set(), set())
for insts in by_family.values():
    for k, inst in enumerate(sorted(insts)):
        halves[k % 2].add(inst)
os.makedirs(dst)
os.symlink(os.path.abspath(f"{src}/nsynth-train"), f"{dst}/nsynth-train")
for split, keep in (("nsynth-valid", halves[0]), ("nsynth-test", halves[1])):
    os.makedirs(f"{dst}/{split}/audio")
    sub = {k: v for k, v in ex.items() if v["instrument_str"] in keep}
    for k in sub:
        os.symlink(os.path.abspath(f"{src}/nsynth-valid/audio/{k}.wav"), f"{dst}/{split}/audio/{k}.wav")
    json.dump(sub, open(f"{dst}/{split}/examples.json", "w"))
    print(split, len(keep), "instruments", len(sub), "notes")
