"""Video input: decoding, clip sampling, transforms and tf.data pipelines."""

from keras_slowfast.data.datasets import (
    DatasetStats,
    VideoClipDataset,
    VideoDataConfig,
    read_folder_tree,
    read_multilabel_list,
    read_video_list,
)
from keras_slowfast.data.decode import (
    VideoDecodeError,
    VideoInfo,
    VideoReader,
    probe_video,
    read_frames,
)
from keras_slowfast.data.sampling import random_clip_indices, uniform_clip_indices
from keras_slowfast.data.transforms import input_convention_of, normalize

__all__ = [
    "DatasetStats",
    "VideoClipDataset",
    "VideoDataConfig",
    "VideoDecodeError",
    "VideoInfo",
    "VideoReader",
    "input_convention_of",
    "normalize",
    "probe_video",
    "random_clip_indices",
    "read_folder_tree",
    "read_frames",
    "read_multilabel_list",
    "read_video_list",
    "uniform_clip_indices",
]
