"""Generate `inference/subjects.json`: the 1000 ImageNet classes rolled up into the subjects people post.

    python -m inference.wordnet_subjects [--wordnet /usr/share/wordnet] [--samples ../shared/data/imagenet_samples]

ImageNet's fine classes are often unsure where the coarse subject is not
(35 % "beach wagon", 18 % "convertible", 11 % "racer" is a sure car). ImageNet
ids are WordNet 3.0 noun offsets, so each class's hypernyms say which of the
curated subjects below it belongs to. This script reads WordNet (Debian's
`wordnet-base` package) once and writes the table; the bot only reads the
table, never WordNet.

The class ids come from the sample photos' file names (`<wnid>_<name>.jpg`,
one per class, in Keras's class order, which is the ids' sorted order) plus
the eleven classes that folder leaves out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.classifier import load_imagenet_labels

OUT = Path(__file__).with_name("subjects.json")
DEFAULT_WORDNET = Path("/usr/share/wordnet")
DEFAULT_SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet_samples"
# The ImageNet ids of the classes ../shared/data/imagenet_samples leaves out, by Keras index.
MISSING_IDS = {
    207: 2099601,  # golden retriever
    511: 3100240,  # convertible (the car, not the sofa bed)
    698: 3877845,  # palace
    817: 4285008,  # sports car
    928: 7614500,  # ice cream
    933: 7697313,  # cheeseburger
    963: 7873807,  # pizza
    967: 7920052,  # espresso
    970: 9193705,  # alp
    978: 9428293,  # seashore
    985: 11939491,  # daisy
}

# key, how an answer names it, WordNet noun synsets (offsets) it stands for, and for a place,
# how it follows "a group of people …". Chosen for what people post on Instagram: a subject is named
# when it is sure, so it must be a word a person would use.
SUBJECTS: list[tuple[str, str, list[int], str]] = [
    ("people", "people", [7846], ""),
    ("dog", "a dog", [2084071], ""),
    ("fox", "a fox", [2118333], ""),
    ("wolf", "a wolf", [2114100], ""),
    ("cat", "a cat", [2121808], ""),
    ("big cat", "a big cat", [2127808, 2124623], ""),
    ("bear", "a bear", [2131653], ""),
    ("bird", "a bird", [1503061], ""),
    ("fish", "a fish", [2512053], ""),
    ("reptile", "a reptile", [1661091], ""),
    ("snake", "a snake", [1726692], ""),
    ("amphibian", "a frog or salamander", [1627424], ""),
    ("insect", "an insect", [2159955], ""),
    ("butterfly", "a butterfly", [2274259], ""),
    ("spider", "a spider", [1772222], ""),
    ("sea creature", "a sea creature", [1974773, 1940736], ""),
    ("monkey", "a monkey or ape", [2469914], ""),
    ("horse", "a horse", [2374451], ""),
    ("elephant", "an elephant", [2503517], ""),
    ("rabbit", "a rabbit", [2323902], ""),
    ("farm animal", "a farm animal", [2402425, 2411705, 2395406], ""),
    ("animal", "an animal", [15388], ""),
    ("flowers", "flowers", [11669921], ""),
    ("plant", "a plant", [17222, 3991062, 11879895, 12144580, 12267677, 12620546, 12768682, 13133613], ""),
    ("mushroom", "a mushroom", [12992868], ""),
    ("fruit", "fruit", [7705931], ""),
    ("vegetables", "vegetables", [7707451], ""),
    ("dessert", "dessert", [7609840], ""),
    ("bread", "bread", [7679356], ""),
    ("dish", "a dish", [7557434], ""),
    ("food", "food", [21265, 7555863], ""),
    ("coffee", "coffee", [7929519, 3063599], ""),
    ("wine", "wine", [7891726, 4591713], ""),
    ("beer", "beer", [2823428, 2823750], ""),
    ("drink", "a drink", [7881800, 3438257, 3983396, 4557648, 3062245], ""),
    ("car", "a car", [2958343], ""),
    ("truck", "a truck", [4490091], ""),
    ("bus", "a bus", [2924116], ""),
    ("motorbike", "a motorbike", [3790512, 3791053], ""),
    ("bicycle", "a bicycle", [2834778], ""),
    ("boat", "a boat", [4530566], ""),
    ("aircraft", "an aircraft", [2686568], ""),
    ("train", "a train", [4468005, 3684823, 4335435, 3895866, 3393912], ""),
    ("vehicle", "a vehicle", [4524313, 4019101], ""),
    ("clothes", "clothes", [3051540], ""),
    ("shoes", "shoes", [3380867], ""),
    ("hat", "a hat", [3502509], ""),
    ("jewellery", "jewellery", [3597469], ""),
    ("bag", "a bag", [2773037], ""),
    ("sunglasses", "sunglasses", [4356056, 4355933], ""),
    ("sports", "sports gear", [4285146, 4039381, 4228054, 4019541], ""),
    ("ball", "a ball", [2778669], ""),
    ("music", "a musical instrument", [3800933], ""),
    ("furniture", "furniture", [3405725], ""),
    ("kitchen", "a kitchen", [3621049, 3620052, 4381994, 4330267, 4070727, 3207941], ""),
    ("home decor", "home decor", [4522168, 2948072, 3938244, 4033995, 3637318, 4380533, 4118021], ""),
    ("beauty", "beauty products", [3113152, 3916031, 3476991, 3690938, 4357314], ""),
    ("computer", "a computer", [3082979], ""),
    ("phone", "a phone", [4401088], ""),
    ("camera", "a camera", [2942699], ""),
    ("electronics", "electronics", [3278248, 4404412, 3782006, 3691459], ""),
    ("clock", "a clock", [4437953], ""),
    ("toy", "a toy", [3964744], ""),
    ("tools", "tools", [4451818], ""),
    ("bridge", "a bridge", [2898711], ""),
    ("shop", "a shop", [4202417, 3461385], "at a shop"),
    ("building", "a building", [2913152, 2825657, 3220513, 4435653, 4417672, 4523525], ""),
    ("architecture", "architecture", [4341686], ""),
    ("street", "a street", [6874185, 6794110, 3891332, 3717622, 4335435, 4487081], "in the street"),
    (
        "beach",
        "the beach",
        [9433442, 9421951, 9399592, 2894605, 3933933, 3710637, 3710721, 2837789, 4371430],
        "at the beach",
    ),
    ("snow", "snow", [4228054, 3218198, 4252077, 2860847, 4252225, 4229816, 9193705], "in the snow"),
    (
        "desk",
        "a desk setup",
        [3642806, 3832673, 3180011, 3085013, 4505470, 4264628, 3793489, 3782006, 4152593, 3179701],
        "at a desk",
    ),
    (
        "home",
        "a room at home",
        [
            *(4590129, 4589890, 3529860, 4344873, 3388549, 3290653, 2870880, 4550184, 3016953, 3018349, 3742115),
            *(4033995, 3938244, 3637318, 4380533, 4040759, 4201297, 4239074, 2808440, 4493381, 4553703, 4209239),
            *(4447861, 4099969, 3125729, 3131574, 4429376),
        ],
        "at home",
    ),
    ("stage", "a stage", [4296562, 4286575, 3759954], "on stage"),
    ("farm", "a farm", [3322940, 4465501, 2793495], "on a farm"),
    ("park", "a park", [3891251, 3733281], "in the park"),
    ("books", "books", [6595351, 7248320, 2870880, 2871525, 3661043], ""),
    ("puzzle", "a puzzle", [3598930, 6785654], ""),
    ("stationery", "stationery", [3906997, 3908618, 3908714, 4116512, 4118776, 3291819, 2840245], ""),
    ("crafts", "arts and crafts", [4179913, 4423845, 4277352, 3992509, 4599235, 3876231], ""),
    ("cleaning", "cleaning", [2906734, 4517823, 3584829, 4554684, 4367480, 3207743], ""),
    ("health", "health care", [4317175, 4376876, 3937543, 2786058, 3814639, 3141823, 4336792, 3868863], ""),
    ("halloween", "a Halloween pumpkin", [3590841], ""),
    ("umbrella", "an umbrella", [4507155], ""),
    ("diving", "diving", [4251144, 10565667], ""),
    ("paddling", "paddling", [3873416, 2951358], ""),
    ("skydiving", "skydiving", [3888257], ""),
    ("baseball", "baseball", [9835506, 2799071], ""),
    ("tennis", "tennis", [4039381, 4409515], ""),
    ("football", "football", [4254680, 4118538], ""),
    ("basketball", "basketball", [2802426], ""),
    ("volleyball", "volleyball", [4540053], ""),
    ("golf", "golf", [3445777, 3445924], ""),
    ("workout", "a workout", [3255030, 2790996, 4023962, 3535780, 3888605, 2777292], ""),
    ("mountains", "mountains", [9359803], "in the mountains"),
    ("landscape", "a landscape", [9287968], "outdoors"),
]

# How an activity follows people in an answer ("people playing tennis"); other subjects follow with "with".
DOING = {
    "baseball": "playing baseball",
    "tennis": "playing tennis",
    "football": "playing football",
    "basketball": "playing basketball",
    "volleyball": "playing volleyball",
    "golf": "playing golf",
    "workout": "working out",
    "diving": "diving",
    "paddling": "paddling",
    "skydiving": "skydiving",
}

# Classes WordNet files under a subject whose tags would not fit them: a park bench and a toilet
# seat are "seats", hence furniture, but #interiordesign is wrong for both; a parking meter is a
# timepiece, but #watches is wrong for it.
EXCLUDED = {("park bench", "furniture"), ("toilet seat", "furniture"), ("parking meter", "clock")}
# Subjects whose classes count for them rather than for a broader one WordNet puts them under: a
# grocery store or a bakery is a shop people post as a shop, not "architecture"; a bedroom, a
# home theater or a bathtub is a room at home, not a building.
NOT_UNDER = {("shop", "architecture"), ("shop", "building"), ("home", "architecture"), ("home", "building")}
# Parents WordNet cannot see because a family also holds what is worn or built there: the beach
# family holds swimsuits and piers, and is still a landscape; cleaning is done at home.
MORE_PARENTS = {"beach": ["landscape"], "cleaning": ["home"]}
# Classes people post as a subject that WordNet files elsewhere: a car wheel is a machine part, a
# muzzle a restraint (ImageNet's photos of it are dogs wearing one), a tripod a rack. They count
# for the subject's score without changing what the subject's parents are.
ALSO: dict[str, tuple[str, ...]] = {
    "car": ("car wheel", "car mirror", "disk brake", "oil filter", "odometer", "gas pump"),
    "aircraft": ("wing",),
    "dog": ("muzzle",),
    "clothes": ("cloak",),
    "bag": ("wallet",),
    "beauty": ("hair slide",),
    "shop": ("shopping basket",),
    "street": ("mailbox", "cash machine"),
    "building": ("water tower",),
    "camera": ("tripod", "lens cap"),
    "electronics": ("radio", "remote control", "hard disc", "projector", "photocopier", "cassette"),
    "home": ("bath towel", "soap dispenser", "toilet tissue", "electric fan", "space heater"),
    "kitchen": ("ladle", "measuring cup", "strainer", "saltshaker", "pitcher", "mortar"),
    "tools": ("carpenter's kit", "screw", "nail"),
    "music": ("pick", "drumstick"),
}


def read_wordnet(folder: Path) -> dict[int, tuple[list[str], list[int]]]:
    """Noun synsets: offset → (lemmas, hypernym offsets, instance hypernyms included)."""
    synsets = {}
    with (folder / "data.noun").open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith(" "):
                continue
            fields = line.split(" | ")[0].split()
            words = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(words)]
            at = 4 + 2 * words
            pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(int(fields[at]))]
            hypernyms = [int(offset) for symbol, offset, pos, _ in pointers if symbol in ("@", "@i") and pos == "n"]
            synsets[int(fields[0])] = (lemmas, hypernyms)
    return synsets


def ancestors(synsets: dict[int, tuple[list[str], list[int]]], offset: int) -> set[int]:
    """The synset and every hypernym above it (WordNet allows several parents)."""
    seen, todo = {offset}, [offset]
    while todo:
        for parent in synsets[todo.pop()][1]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def class_ids(samples: Path) -> list[int]:
    """The 1000 ImageNet ids in Keras order."""
    found = sorted(int(path.name[1:9]) for path in samples.glob("n*_*.jpg"))
    ids = sorted(found + list(MISSING_IDS.values()))
    for index, offset in MISSING_IDS.items():
        if ids[index] != offset:
            raise ValueError(f"class {index} should be n{offset:08d}; the sample folder does not match")
    if len(ids) != 1000:
        raise ValueError(f"expected 1000 ImageNet ids, found {len(ids)} in {samples} and MISSING_IDS")
    return ids


def build(synsets: dict[int, tuple[list[str], list[int]]], ids: list[int], names: list[str]) -> dict:
    """The table: every subject with its phrase and parent subjects, every class with its subjects, specific first."""
    reach = {key: set(offsets) for key, _, offsets, _ in SUBJECTS}
    # B is a parent of A when every synset of A lies under one of B's: a parking meter (street) is a
    # timepiece, but a street is not a clock.
    parents = {
        key: [
            other
            for other in reach
            if other != key
            and (key, other) not in NOT_UNDER
            and all(reach[other] & ancestors(synsets, offset) for offset in reach[key])
        ]
        + MORE_PARENTS.get(key, [])
        for key in reach
    }
    lineages = [ancestors(synsets, offset) for offset in ids]
    members = [
        [key for key in reach if (reach[key] & lineage or name in ALSO.get(key, ())) and (name, key) not in EXCLUDED]
        for name, lineage in zip(names, lineages, strict=True)
    ]
    members = [[key for key in keys if not any((other, key) in NOT_UNDER for other in keys)] for keys in members]
    # Specific first: a subject that covers fewer classes says more (wine before drink before food).
    size = {key: sum(key in keys for keys in members) for key in reach}
    classes = [
        {"wnid": f"n{offset:08d}", "name": name, "subjects": sorted(keys, key=lambda key: (size[key], key))}
        for offset, name, keys in zip(ids, names, members, strict=True)
    ]
    return {
        "generated_by": "python -m inference.wordnet_subjects (WordNet 3.0)",
        "subjects": {
            key: {"phrase": phrase, "parents": parents[key], "setting": setting, "doing": DOING.get(key, "")}
            for key, phrase, _, setting in SUBJECTS
        },
        "classes": classes,
    }


def to_json(table: dict) -> str:
    """The table with one line per subject and per class, so a regenerated table diffs line by line."""
    lines = ["{", f' "generated_by": {json.dumps(table["generated_by"])},', ' "subjects": {']
    subjects = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in table["subjects"].items()]
    lines += [",\n".join(subjects), " },", ' "classes": [']
    lines += [",\n".join(f"  {json.dumps(entry, ensure_ascii=False)}" for entry in table["classes"]), " ]", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.wordnet_subjects", description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="WordNet 3.0 dict folder (data.noun)")
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES, help="one <wnid>_<name>.jpg per class")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        synsets = read_wordnet(args.wordnet)
        table = build(synsets, class_ids(args.samples), load_imagenet_labels())
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.write_text(to_json(table))
    covered = sum(bool(entry["subjects"]) for entry in table["classes"])
    print(json.dumps({"classes": len(table["classes"]), "with_a_subject": covered, "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
