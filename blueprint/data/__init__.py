"""Data: sources that load labelled images into splits, and the tf.data pipeline that feeds them."""
