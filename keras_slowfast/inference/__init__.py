"""Inference on whole videos: classification and per-second action detection."""

from keras_slowfast.inference.classify import predict_stream, predict_video
from keras_slowfast.inference.detect import detect_video, person_boxes

__all__ = ["detect_video", "person_boxes", "predict_stream", "predict_video"]
