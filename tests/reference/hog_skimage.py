# Reference HOG vector for represent::hog (run: python tests/reference/hog_skimage.py; scikit-image).
# A deterministic 16 x 16 gray image: a bright off-centre square on a ramp, u8.
import numpy as np, skimage
from skimage.feature import hog
img = (np.add.outer(np.arange(16), np.arange(16)) * 5).astype(np.uint8)
img[4:10, 6:13] = 220
img[12, 2] = 90
v = hog(img, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys", feature_vector=True)
print("skimage", skimage.__version__, "len", len(v))
print("[" + ", ".join(f"{x:.8f}" for x in v) + "]")
