"""Video input: decoding, clip sampling, transforms and tf.data pipelines."""
