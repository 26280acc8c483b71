"""Input pipelines: `tf.data` datasets of uint8 images from TFDS, folders, TFRecords, random
multi-scale crops of a folder of photos and the embedded offline datasets, with the transforms
that turn them into each stage's inputs.

```python
from spn_keras.data import make_dataset, transforms

train = make_dataset("mnist5k", "train", batch_size=32, repeat=True,
                     transform=transforms.reduce_depth(3))   # uint8 (32, 28, 28, 1) in [0, 8)
test = make_dataset("photos32", "test", batch_size=64)        # 520 patches, exactly once
```
"""

from spn_keras.data import crops_source
from spn_keras.data import embedded
from spn_keras.data import transforms
from spn_keras.data.dataset_spec import DatasetSpec
from spn_keras.data.distribute import make_dataset_fn
from spn_keras.data.folder_source import folder_split
from spn_keras.data.image_ops import center_crop_and_resize
from spn_keras.data.input_pipeline import image_shape_errors_as_value_errors
from spn_keras.data.input_pipeline import make_dataset
from spn_keras.data.tfds_source import TFDS_DATASETS
from spn_keras.data.tfrecord_source import write_tfrecords
from spn_keras.data.transforms import compose
from spn_keras.data.transforms import first_slice
from spn_keras.data.transforms import pad_to
from spn_keras.data.transforms import reduce_depth
from spn_keras.data.transforms import split_depth

__all__ = [
    "DatasetSpec", "TFDS_DATASETS", "center_crop_and_resize", "compose", "crops_source",
    "embedded", "first_slice", "folder_split", "image_shape_errors_as_value_errors",
    "make_dataset", "make_dataset_fn", "pad_to", "reduce_depth", "split_depth", "transforms",
    "write_tfrecords"
]
