"""TensorBoard pictures of a training run: heat maps, confusion matrix, per class.

``ImageSummaries`` is a Keras callback. After every ``every_epochs`` epochs it
scores the validation clips and writes, as TensorBoard image summaries (the
``tf.summary.image`` convention: uint8 ``(k, height, width, 3)`` RGB, step =
epoch):

* ``grad_cam/clip_<i>``: a few validation clips, some frames each, with the
  Slow and Fast Grad-CAM maps of the predicted class side by side, and the
  true and predicted class in the caption;
* ``evaluation/confusion_matrix`` (single-label) and
  ``evaluation/per_class_accuracy``, or ``evaluation/per_class_ap``
  (multi-label).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.evaluation import metrics
from keras_slowfast.explain import grad_cam, overlay
from keras_slowfast.models.preprocessor import preprocessor_of


def _batches(data):
    """``(clip, target)`` NumPy batches of an ``(x, y)`` pair or a dataset."""
    if isinstance(data, tf.data.Dataset):
        for clips, targets in data:
            yield np.asarray(clips), np.asarray(targets)
    else:
        clips, targets = data
        for start in range(0, len(clips), 32):
            yield clips[start : start + 32], targets[start : start + 32]


class ImageSummaries(keras.callbacks.Callback):
    """Writes heat maps, the confusion matrix and per-class scores each epoch.

    Args:
        log_dir: str. TensorBoard folder (``train`` adds it as ``logs/images``).
        validation_data: ``(x, y)`` arrays or a batched ``tf.data.Dataset`` of
            ``(clip, target)``, normalized clips as the model takes them;
            targets are class ids or one-hot (single-label) or multi-hot.
        num_clips: int. Validation clips shown with heat maps (0: none).
        frames_per_clip: int. Evenly spaced frames shown of each clip.
        class_names: list of str or None.
        multi_label: bool. Multi-hot targets: per-class AP instead of the
            confusion matrix and accuracy.
        every_epochs: int. Write after every this many epochs (and the last).
    """

    def __init__(
        self,
        log_dir,
        validation_data,
        *,
        num_clips=3,
        frames_per_clip=4,
        class_names=None,
        multi_label=False,
        every_epochs=1,
    ):
        super().__init__()
        for name, value, low in (
            ("num_clips", num_clips, 0),
            ("frames_per_clip", frames_per_clip, 1),
            ("every_epochs", every_epochs, 1),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}")
        self.log_dir = log_dir
        self.validation_data = validation_data
        self.num_clips = int(num_clips)
        self.frames_per_clip = int(frames_per_clip)
        self.class_names = list(class_names) if class_names is not None else None
        self.multi_label = bool(multi_label)
        self.every_epochs = int(every_epochs)
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.num_clips and len(self.model.inputs) != 1:
            raise ValueError(
                "image summaries draw classifier heat maps; a detection model "
                "needs boxes: set num_clips=0 (tensorboard_images: 0)"
            )

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs")
        if (epoch + 1) % self.every_epochs and not last:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        scores, targets, shown = [], [], []
        for clips, batch_targets in _batches(self.validation_data):
            scores.append(np.asarray(self.model.predict_on_batch(clips), np.float32))
            targets.append(np.asarray(batch_targets))
            if len(shown) < self.num_clips:
                shown.extend(clips[: self.num_clips - len(shown)])
        if not scores:
            return  # an empty validation set: nothing to picture
        scores, targets = np.concatenate(scores), np.concatenate(targets)
        with self._writer.as_default(step=epoch + 1):
            for tag, image in self.evaluation_images(scores, targets).items():
                tf.summary.image(tag, image[None])
            for index, clip in enumerate(shown):
                tf.summary.image(
                    f"grad_cam/clip_{index}",
                    self.heat_map_image(clip, targets[index])[None],
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _name(self, index):
        return self.class_names[index] if self.class_names else str(index)

    def evaluation_images(self, scores, targets):
        """``{tag: uint8 RGB image}`` of the scores of the validation set."""
        num_classes = scores.shape[-1]
        if self.multi_label:
            ap = [
                metrics.average_precision(scores[:, c], targets[:, c])
                for c in range(num_classes)
            ]
            image = metrics.plot_per_class(
                ap, class_names=self.class_names, title="per-class AP"
            )
            return {"evaluation/per_class_ap": image[..., ::-1]}
        one_hot = targets.ndim == 2 and targets.shape[-1] == num_classes > 1
        labels = targets.argmax(-1) if one_hot else targets.reshape(-1).astype(int)
        matrix = metrics.confusion_matrix(labels, scores.argmax(-1), num_classes)
        totals = matrix.sum(axis=1)
        accuracy = np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)
        confusion = metrics.plot_confusion_matrix(matrix, class_names=self.class_names)
        bars = metrics.plot_per_class(accuracy, class_names=self.class_names)
        return {
            "evaluation/confusion_matrix": confusion[..., ::-1],
            "evaluation/per_class_accuracy": bars[..., ::-1],
        }

    def heat_map_image(self, clip, target):
        """Some frames of one clip: Slow and Fast heat maps of the top class."""
        result = grad_cam(self.model, clip[None])
        predicted = int(result.class_index[0])
        target = np.asarray(target)
        if self.multi_label:
            truth = ",".join(self._name(c) for c in np.flatnonzero(target > 0))
        else:
            one_hot = target.size == self.model.outputs[0].shape[-1] > 1
            truth = self._name(
                int(target.argmax() if one_hot else target.reshape(-1)[0])
            )
        frames = np.asarray(preprocessor_of(self.model).denormalize(clip))
        picks = np.linspace(0, len(frames) - 1, self.frames_per_clip).round()
        picks = picks.astype(int)
        scale = max(1, -(-112 // frames.shape[2]))
        images = overlay.panels(
            frames[picks],
            {key: heat[0][picks] for key, heat in result.maps.items()},
            f"true {truth} / predicted {self._name(predicted)}",
            scale=scale,
        )
        return overlay.frame_grid(images, columns=len(images))
