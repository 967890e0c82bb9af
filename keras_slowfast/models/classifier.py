"""SlowFastVideoClassifier: a backbone plus the pooled classification head."""

from keras_slowfast.layers.heads import HEAD_ACTIVATIONS, ClassificationHead
from keras_slowfast.layers.utils import check_choice, check_model_keywords, register
from keras_slowfast.models.backbone import check_video_input
from keras_slowfast.models.task import (
    SlowFastTask,
    check_backbone,
    task_preprocessor,
)


@register
class SlowFastVideoClassifier(SlowFastTask):
    """Classifies clips: a :class:`SlowFastBackbone` and a pooled linear head.

    The head (layer ``head``, a :class:`ClassificationHead`) averages each
    pathway's final map over time and space, concatenates Slow and Fast,
    applies dropout and the dense layer ``head.proj`` (paper section 4). With
    ``head_spatial_pool_size=(7, 7)`` the head runs fully convolutionally over
    larger test crops, as PySlowFast tests (``slowfast/models/head_helper.py``).

    Input: ``video`` ``(batch, num_frames, H, W, 3)``, normalized by
    ``preprocessor``. Output: ``(batch, num_classes)`` logits, or scores when
    ``activation`` is set.

    Args:
        backbone: :class:`SlowFastBackbone`. The network; its weights are the
            classifier's (a backbone can be shared with other tasks).
        num_classes: int. Output classes.
        dropout_rate: float. Head dropout (training only).
        activation: None (logits), ``"softmax"`` or ``"sigmoid"``.
        head_spatial_pool_size: list of 2 ints or None. Fully convolutional
            test-time pooling window of the head.
        preprocessor: :class:`VideoPreprocessor` or None. The input convention
            (mean, std, channel order), resize and crop the model was trained
            with; saved with the model. None: RGB in [0, 1], mean 0.45, std
            0.225 (the PyTorchVideo / PySlowFast Kinetics models).
        class_names: list of str or None. Name of each class (index = class
            id), saved with the model; prediction, detection, explanation and
            export show these names.
        **kwargs: ``name``, ``dtype`` (the head's policy; default: the
            backbone's) and ``trainable``.

    Examples:
    >>> backbone = SlowFastBackbone(stage_depths=[1, 1, 1, 1], alpha=4,
    ...                             num_frames=8)
    >>> model = SlowFastVideoClassifier(backbone, num_classes=5)
    >>> tuple(model(keras.ops.zeros((2, 8, 64, 64, 3))).shape)
    (2, 5)
    """

    ZOO_TASK = "classifier"

    def __init__(
        self,
        backbone,
        num_classes=400,
        *,
        dropout_rate=0.5,
        activation=None,
        head_spatial_pool_size=None,
        preprocessor=None,
        class_names=None,
        **kwargs,
    ):
        check_backbone(backbone, "SlowFastVideoClassifier")
        check_model_keywords(kwargs, "SlowFastVideoClassifier")
        check_choice(activation, HEAD_ACTIVATIONS, "activation")
        preprocessor = task_preprocessor(preprocessor)
        dtype = kwargs.pop("dtype", None) or backbone.dtype_argument
        head = ClassificationHead(
            num_classes,
            dropout_rate=dropout_rate,
            activation=activation,
            spatial_pool_size=head_spatial_pool_size,
            name="head",
            dtype=dtype,
        )
        video = backbone.input
        outputs = head(backbone(video))
        super().__init__(inputs=video, outputs=outputs, **kwargs)
        # Set after the functional init: on the torch backend a layer is a
        # torch Module, which takes no sub-modules before its own init.
        self._set_task_parts(backbone, head, preprocessor, dtype, class_names)
        self.num_classes = self.head.num_classes
        self.dropout_rate = self.head.dropout_rate
        self.activation = self.head.activation
        self.head_spatial_pool_size = (
            None
            if self.head.spatial_pool_size is None
            else list(self.head.spatial_pool_size)
        )

    @property
    def feature_channels(self):
        """Width of the pooled features the head's dense layer reads."""
        return sum(self.backbone.feature_channels.values())

    def __call__(self, inputs, *args, **kwargs):
        check_video_input(inputs, self.num_frames, self.image_size)
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        return {
            **self._base_config(),
            "num_classes": self.num_classes,
            "dropout_rate": self.dropout_rate,
            "activation": self.activation,
            "head_spatial_pool_size": self.head_spatial_pool_size,
        }
