"""Every Python block of README.md runs as written.

Each block runs alone, in a fresh namespace, in its own temporary folder.
A block that needs files a user has (checkpoints, trained models, datasets)
has an HTML comment right above it in the README, ``<!-- needs: ... -->``.
Some of those files the test can make (a video, a folder of videos, a model
file as keras_slowfast 0.1 wrote it): those blocks run on generated files.
The others are listed in ``SKIPPED`` by their marker, and the count is
checked, so a new block without a marker runs and a new marker must be added
here. Skipped blocks are still parsed and their ``keras_slowfast`` imports and
attributes checked.

A ``print(...)`` line with a comment states what it prints: the comment must
begin with the printed line.
"""

import ast
import importlib
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import keras
import pytest

import keras_slowfast
from tests.data.video_files import write_video

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(
    r"(?:^<!-- needs: (?P<needs>.+?) -->\n)?^```(?P<language>\w*)\n(?P<code>.*?)^```",
    re.S | re.M,
)

# Blocks that need files the test cannot make, by their README marker.
SKIPPED = [
    "network access to the model zoo (or KERAS_SLOWFAST_MIRROR), my_video.mp4",
    "network access to the model zoo (or KERAS_SLOWFAST_MIRROR)",
    "SLOWFAST_8x8_R50.pyth",
    "train.csv, val.csv, /data/kinetics/ (Kinetics videos)",
    "charades_train.txt, Charades_v1/ (Charades videos)",
    'val.csv, /data/kinetics/ (the model and data of "From a CSV or text list")',
    'Kinetics (train_ds, val_ds: datasets as in "Data")',
    "slowfast_8x8_r50.keras (a trained model), my_train_ds (your clips)",
    "AVA annotations, label map and videos",
    "slowfast_8x8_r50.keras (a trained model), kinetics_400.json",
    "kinetics_400.json, and model and frames as in the blocks above",
    "slowfast_8x8_r50.keras (a trained model), walk.mp4, kinetics_400.json",
]
# Names in code that the 0.1 API had and the current one does not.
REMOVED = re.compile(
    r"SlowFastNet|include_top|head_activation|\bfusion_kernel\b|keras_slowfast\.predict\b"
)
PRESET_USES = (
    re.compile(r'(?:preset=|from_preset\()"([^"]+)"'),
    re.compile(r"preset:\s*([a-z0-9_]+)"),
    re.compile(r"--preset\s+([a-z0-9_]+)"),
)


def _make_0_1_model(folder):
    from tests.models.legacy_files import write_0_1_file
    from tests.tiny_models import tiny_task

    path = folder / "old_model.keras"
    write_0_1_file(tiny_task(5), path, "SlowFastNet")
    # What the README says of such a file: keras.saving names the fix.
    with pytest.raises(ValueError, match=r"keras_slowfast\.load_model"):
        keras.saving.load_model(path)


def _check_0_1_model(folder, log):
    assert "keras_slowfast 0.1" in log  # "converted, with a warning"
    # "now in the current format": plain Keras loads the file saved again.
    model = keras.saving.load_model(folder / "old_model.keras")
    assert isinstance(model, keras_slowfast.SlowFastVideoClassifier)


def _make_video_folder(folder):
    # The tree the README draws: videos/{jump/{a.mp4, b.avi, more/c.mp4}, walk/d.mp4}.
    for name in ("jump/a.mp4", "jump/b.avi", "jump/more/c.mp4", "walk/d.mp4"):
        path = folder / "videos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, 12, fourcc="mp4v" if name.endswith(".mp4") else "MJPG")


def _make_clip(folder):
    write_video(folder / "clip.mp4", 40, fourcc="mp4v")


# Marker -> (make the files in a folder, check the folder and log afterwards).
MADE_BY_THE_TEST = {
    "old_model.keras (saved by keras_slowfast 0.1)": (
        _make_0_1_model,
        _check_0_1_model,
    ),
    "videos/ (the folder above)": (_make_video_folder, None),
    "clip.mp4 (any video)": (_make_clip, None),
}


@dataclass
class Block:
    line: int  # README line of the block's first line of code
    language: str
    code: str
    needs: str | None

    def __str__(self):
        return f"README.md:{self.line}"


def readme_blocks(language="python"):
    text = README.read_text(encoding="utf-8")
    return [
        Block(
            text.count("\n", 0, match.start("code")) + 1,
            match["language"],
            match["code"],
            match["needs"],
        )
        for match in FENCE.finditer(text)
        if language is None or match["language"] == language
    ]


RUNNABLE = [
    b for b in readme_blocks() if b.needs is None or b.needs in MADE_BY_THE_TEST
]


def test_every_marker_is_on_a_python_block_and_listed_here():
    text = README.read_text(encoding="utf-8")
    blocks = readme_blocks()
    marked = [b.needs for b in blocks if b.needs is not None]
    markers = re.findall(r"^<!-- needs:", text, re.M)
    assert len(markers) == len(marked), "a marker not right above a block"
    assert all(b.needs is None for b in readme_blocks(None) if b.language != "python")
    assert sorted(marked) == sorted(SKIPPED + list(MADE_BY_THE_TEST))
    skipped = [b for b in blocks if b not in RUNNABLE]
    assert len(skipped) == len(SKIPPED) == 12
    assert len(RUNNABLE) >= 8  # the blocks are found


def _print_comments(code):
    """``(line, comment)`` of each ``print(...)`` statement with a comment."""
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string[1:].strip()
    statements = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "print"
    ]
    return [
        (node.end_lineno, comments[node.end_lineno])
        for node in sorted(statements, key=lambda node: node.lineno)
        if node.end_lineno in comments
    ]


def _states(comment, printed):
    """Whether ``comment`` begins with ``printed`` (as a whole word)."""
    if not printed or not comment.startswith(printed):
        return False
    rest = comment[len(printed) :]
    return not rest or rest[0] in " \t,;:"


def _check_printed(block, output):
    lines = [line.strip() for line in output.splitlines()]
    position = 0
    for line_number, comment in _print_comments(block.code):
        for index in range(position, len(lines)):
            if _states(comment, lines[index]):
                position = index + 1
                break
        else:
            pytest.fail(
                f"README.md:{block.line + line_number - 1}: no printed line that "
                f"'# {comment}' begins with; printed after the earlier checks: "
                f"{lines[position:]}"
            )


@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_block_runs_as_written(block, tmp_path, monkeypatch, capsys, caplog):
    make, check = MADE_BY_THE_TEST.get(block.needs, (None, None))
    if make is not None:
        make(tmp_path)
    monkeypatch.chdir(tmp_path)
    # Padded so that tracebacks show README line numbers and text.
    source = "\n" * (block.line - 1) + block.code
    try:
        exec(compile(source, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        keras.backend.clear_session()
    _check_printed(block, capsys.readouterr().out)
    if check is not None:
        check(tmp_path, caplog.text)


def _names_used(tree):
    """``(module, attribute)`` for every keras_slowfast name a block imports or uses."""
    aliases, used = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "keras_slowfast":
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "keras_slowfast"
        ):
            used.extend((node.module, alias.name) for alias in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases:
                used.append((aliases[node.value.id], node.attr))
    return used


def test_blocks_that_need_downloads_use_the_current_api():
    """Not run, but parsed: each keras_slowfast name they use must exist."""
    checked = 0
    for block in readme_blocks():
        if block in RUNNABLE:
            continue
        tree = ast.parse(block.code, filename=str(block))
        for module, name in _names_used(tree):
            assert hasattr(importlib.import_module(module), name), (
                f"{block}: {module}.{name} does not exist"
            )
            checked += 1
    assert checked >= 12  # the check has something to check


def test_code_uses_no_removed_names_and_only_real_presets():
    presets = set(keras_slowfast.preset_names()) | set(keras_slowfast.zoo_names())
    for block in readme_blocks(language=None):
        assert not REMOVED.search(block.code), (
            f"{block}: {REMOVED.search(block.code)[0]} was removed (0.1 API)"
        )
        for pattern in PRESET_USES:
            for name in pattern.findall(block.code):
                assert name in presets, f"{block}: no preset {name!r}"
    text = README.read_text(encoding="utf-8")
    # Markdown tables and prose name presets too (e.g. `--preset NAME` rows).
    for pattern in PRESET_USES[1:]:
        for name in pattern.findall(text):
            assert name in presets, f"README.md: no preset {name!r}"
