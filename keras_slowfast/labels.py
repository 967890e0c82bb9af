"""Class names: reading label-map files, and the label maps the package ships.

The shipped label maps are the class lists of the datasets the model zoo was
trained on, one name per line, line ``i`` = class ``i`` (``label_maps/``):

* ``kinetics400``: Kinetics-400 in its class-index order (alphabetical), from
  open-mmlab/mmaction2 ``tools/data/kinetics/label_map_k400.txt``.
* ``ava``: the 80 AVA v2.1/v2.2 actions in id order (line ``i`` = AVA id
  ``i + 1``), from facebookresearch/SlowFast ``demo/AVA/ava.names`` (commit
  19e68d0). The 60 evaluated classes are those of
  ``ava_evaluation/ava_action_list_v2.1_for_activitynet_2018.pbtxt.txt``.
* ``charades``: the 157 Charades classes ``c000``-``c156`` of
  ``Charades_v1_classes.txt`` (copy in piergiaj/tgm-icml19,
  ``charades/Charades_v1_classes.txt``).
* ``ssv2``: the 174 Something-Something v2 labels in id order, from
  open-mmlab/mmaction2 ``tools/data/sthv2/label_map.txt`` (the order of the
  dataset's ``something-something-v2-labels.json``).
"""

import os

BUILTIN_LABEL_MAPS = ("ava", "charades", "kinetics400", "ssv2")


def builtin_label_map(name):
    """The class names of a label map shipped with the package.

    Args:
        name: str. One of ``BUILTIN_LABEL_MAPS``.

    Returns:
        list of str, index = class id.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    from importlib import resources

    if name not in BUILTIN_LABEL_MAPS:
        raise ValueError(
            f"label map {name!r} is not shipped; known: {', '.join(BUILTIN_LABEL_MAPS)}"
        )
    text = (
        resources.files("keras_slowfast")
        .joinpath("label_maps", f"{name}.txt")
        .read_text(encoding="utf-8")
    )
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_label_map(path):
    """Reads class names from a file, ordered by class id.

    Accepts a text file with one name per line, a JSON list of names, or a JSON
    object mapping names to ids (the Kinetics ``{"abseiling": 0, ...}`` format)
    or ids to names.

    Returns:
        list of str, index = class id.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read as a label map.
    """
    import json

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label map {path}: file not found")
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if path.endswith(".json") or text.lstrip()[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"label map {path}: invalid JSON ({error})") from None
        if isinstance(data, list):
            return [str(name) for name in data]
        if isinstance(data, dict):
            try:
                if all(str(key).isdigit() for key in data):
                    pairs = {int(key): str(name) for key, name in data.items()}
                else:
                    pairs = {int(idx): str(name) for name, idx in data.items()}
            except (TypeError, ValueError):
                raise ValueError(
                    f"label map {path}: expected {{name: id}} or {{id: name}}"
                ) from None
            if sorted(pairs) != list(range(len(pairs))):
                raise ValueError(
                    f"label map {path}: ids must be 0..{len(pairs) - 1} without gaps"
                )
            return [pairs[i] for i in range(len(pairs))]
        raise ValueError(f"label map {path}: expected a JSON list or object")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"label map {path}: no class names found")
    return names
