"""SlowFast building blocks: Keras layers written with ``keras.ops`` only."""

from keras_slowfast.layers.bottleneck import BottleneckBlock
from keras_slowfast.layers.conv_bn import ConvBN3D
from keras_slowfast.layers.fusion import FUSION_MODES, LateralFusion
from keras_slowfast.layers.heads import ClassificationHead, DetectionHead, box_mask
from keras_slowfast.layers.non_local import NonLocalBlock
from keras_slowfast.layers.pack_pathways import PackPathways, slow_frame_indices
from keras_slowfast.layers.res_stage import ResStage
from keras_slowfast.layers.roi_align import ROIAlign, roi_align
from keras_slowfast.layers.stem import PathwayStem

__all__ = [
    "BottleneckBlock",
    "ClassificationHead",
    "ConvBN3D",
    "DetectionHead",
    "FUSION_MODES",
    "LateralFusion",
    "NonLocalBlock",
    "PackPathways",
    "PathwayStem",
    "ROIAlign",
    "ResStage",
    "box_mask",
    "roi_align",
    "slow_frame_indices",
]
