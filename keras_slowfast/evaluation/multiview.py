"""Multi-view evaluation: average a model's scores over clips x crops per video.

The SlowFast testing protocol (paper, "Inference"): 10 uniformly spaced clips
x 3 crops along the long side = 30 views per video; scores (softmax for
single-label, sigmoid for multi-label) are averaged per video.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.data.datasets import VideoClipDataset, VideoDataConfig
from keras_slowfast.models.preprocessor import preprocessor_of
from keras_slowfast.models.task import score_activation


@dataclasses.dataclass
class MultiviewResult:
    """Per-video predictions of ``evaluate_multiview``.

    Attributes:
        paths: list of str. The videos, in dataset order.
        scores: float32 ``(num_videos, num_classes)``. Mean score over a
            video's views; NaN rows for skipped (undecodable) videos.
        targets: int32 labels or float32 multi-hot targets (-1 = unlabeled).
        num_views: int ``(num_videos,)``. Views averaged per video (0 = skipped).
    """

    paths: list
    scores: np.ndarray
    targets: np.ndarray
    num_views: np.ndarray

    @property
    def skipped(self):
        """Paths of the videos that produced no view."""
        return [p for p, n in zip(self.paths, self.num_views, strict=True) if n == 0]

    def top_k_accuracy(self, k=1):
        """Share of evaluated single-label videos whose label is in the top k."""
        if self.targets.ndim != 1:
            raise ValueError("top_k_accuracy needs single-label targets")
        keep = (self.num_views > 0) & (self.targets >= 0)
        if not keep.any():
            raise ValueError("no evaluated video has a label")
        top = np.argsort(-self.scores[keep], axis=1)[:, :k]
        return float(np.mean(np.any(top == self.targets[keep, None], axis=1)))


def _apply(scores, activation):
    if activation == "softmax":
        shifted = scores - scores.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    return scores


def evaluate_multiview(
    model,
    dataset_or_paths,
    num_clips=10,
    num_crops=3,
    multi_label=False,
    batch_size=8,
    *,
    config=None,
    activation="auto",
    verbose=1,
):
    """Runs ``model`` over every view of every video and averages the scores.

    The clips are normalized by the model's preprocessor (``preprocessor_of``)
    and take ``model.num_frames`` frames when the model has that attribute.

    Args:
        model: a Keras model taking clips ``(batch, T, H, W, 3)``.
        dataset_or_paths: a ``VideoClipDataset`` or a list of video paths.
        num_clips: int. Uniformly spaced clips per video.
        num_crops: int. 1 (center) or 3 (along the long side) crops per clip.
        multi_label: bool. Sigmoid instead of softmax scores (for paths; a
            ``VideoClipDataset`` brings its own).
        batch_size: int. Views per model call.
        config: ``VideoDataConfig`` or None. Data options for a path list
            (default: the dataset's config or the defaults).
        activation: "auto" (softmax/sigmoid unless the model's
            ``activation`` already is one), "softmax", "sigmoid" or "none".
        verbose: int. 1 shows a ``keras.utils.Progbar`` over views.

    Returns:
        ``MultiviewResult`` with per-video averaged scores.

    Raises:
        ValueError: no video could be decoded, or the data's ``num_frames``
            differs from the model's.
    """
    if isinstance(dataset_or_paths, VideoClipDataset):
        source = dataset_or_paths
        multi_label = source.multi_label
        base = config or source.config
    elif isinstance(dataset_or_paths, (list, tuple)):
        source = None
        base = config or VideoDataConfig(
            num_frames=getattr(model, "num_frames", None) or 32
        )
    else:
        raise ValueError(
            "dataset_or_paths must be a VideoClipDataset or a list of paths, got "
            f"{type(dataset_or_paths).__name__}"
        )
    model_frames = getattr(model, "num_frames", None)
    if model_frames and base.num_frames != model_frames:
        raise ValueError(
            f"data num_frames={base.num_frames} differs from the model's "
            f"num_frames={model_frames}"
        )
    config = dataclasses.replace(
        base,
        num_clips=num_clips,
        num_crops=num_crops,
        input_convention=preprocessor_of(model).input_convention,
    )
    if source is None:
        # Unlabeled videos: targets are -1; multi_label only picks the sigmoid.
        source = VideoClipDataset(list(dataset_or_paths), config=config)
    else:
        # Same videos, targets and stats (skips are counted on the caller's
        # dataset), with this evaluation's clips, crops and normalization.
        view_source = VideoClipDataset.__new__(VideoClipDataset)
        view_source.__dict__.update(source.__dict__)
        view_source.config = config
        source = view_source
    activation = score_activation(model, activation, multi_label)

    num_videos = len(source)
    sums, counts = None, np.zeros(num_videos, np.int64)
    progbar = (
        keras.utils.Progbar(num_videos * num_clips * num_crops, unit_name="view")
        if verbose
        else None
    )
    seen = 0
    try:
        for clips, indices in source.build_views(batch_size):
            scores = keras.ops.convert_to_numpy(model(clips, training=False))
            scores = _apply(np.asarray(scores, np.float64), activation)
            if sums is None:
                sums = np.zeros((num_videos, scores.shape[-1]), np.float64)
            indices = indices.numpy()
            np.add.at(sums, indices, scores)
            np.add.at(counts, indices, 1)
            seen += len(indices)
            if progbar is not None:
                progbar.update(seen)
    except tf.errors.OpError as error:
        if len(source.stats.bad_files) >= num_videos:
            raise ValueError(
                f"none of the {num_videos} videos could be decoded: "
                f"{next(iter(source.stats.bad_files.items()))}"
            ) from None
        raise error
    if sums is None:
        raise ValueError(f"none of the {num_videos} videos could be decoded")
    if progbar is not None:
        progbar.update(num_videos * num_clips * num_crops, finalize=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = (sums / counts[:, None]).astype(np.float32)
    scores[counts == 0] = np.nan
    return MultiviewResult(list(source.paths), scores, source.targets, counts)
