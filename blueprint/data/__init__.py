"""Data: sources that list or load labelled images, the saved inventory and split of image files,
and the tf.data pipeline that streams them."""
