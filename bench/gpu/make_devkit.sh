#!/bin/bash
# Fills .devkit/ (git-ignored through .git/info/exclude) with what bench/gpu/run_on_device.sh needs on a lent GPU
# machine, which has Python 3.12 with torch but no registry: the OpenMMLab packages (pure Python: the installed
# mmdet / mmseg trees are copied, their sdists do not build as wheels offline), their small dependencies as cp312
# wheels, onedl-mmcv's source tarball, and the NanoDet model of the model cache. Run from the repository root
# after tools/setup.sh models nanodet; carry .devkit and data/vtest.avi in the device call.
set -eu
grep -qx '/.devkit/' .git/info/exclude || echo '/.devkit/' >> .git/info/exclude
rm -rf .devkit && mkdir -p .devkit/whl .devkit/src .devkit/site
P="--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64
   --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
python -m pip download -q --no-deps --only-binary=:all: $P -d .devkit/whl onedl-mmengine==0.10.12 addict==2.4.0 \
    yapf==0.43.0 termcolor==3.3.0 terminaltables==3.1.10 pycocotools==2.0.11 shapely==2.2.0 prettytable==3.18.0 \
    ftfy==6.3.1 platformdirs wcwidth imaug==0.4.3 imagecorruptions-imaug==1.1.5
python -m pip download -q --no-deps --no-binary=:all: -d .devkit/src onedl-mmcv==2.3.6
site=$(python -c "import mmdet, os; print(os.path.dirname(os.path.dirname(mmdet.__file__)))")
cp -r "$site/mmdet" "$site/mmseg" "$site"/onedl_mm{detection,segmentation,cv}-*.dist-info .devkit/site/     # they read their versions there
find .devkit/site -name __pycache__ -prune -exec rm -rf {} +
cp -r "${VAD_ROS_MODEL_CACHE:-$HOME/.cache/vad_ros/models}" .devkit/models
du -sh .devkit
