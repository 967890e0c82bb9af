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
    read_frames_at,
)
from keras_slowfast.data.sampling import (
    keyframe_clip_instants,
    random_clip_instants,
    uniform_clip_instants,
)

__all__ = [
    "DatasetStats",
    "VideoClipDataset",
    "VideoDataConfig",
    "VideoDecodeError",
    "VideoInfo",
    "VideoReader",
    "keyframe_clip_instants",
    "probe_video",
    "random_clip_instants",
    "read_folder_tree",
    "read_frames_at",
    "read_multilabel_list",
    "read_video_list",
    "uniform_clip_instants",
]
